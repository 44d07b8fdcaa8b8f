/**
 * Durations and sizes in configuration are strings with units ("30s", "25MB") so that a
 * reader never has to guess whether 300 means seconds or milliseconds. One parser each.
 */

const DURATION_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/i;

/** Parses "500ms", "30s", "5m", "1h", "2d", "1w" into milliseconds; throws a readable error otherwise. */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new Error(`invalid duration ${input}`);
    return input;
  }
  const match = DURATION_RE.exec(input.trim());
  if (!match)
    throw new Error(`invalid duration "${input}": use a number and a unit (ms, s, m, h, d, w), e.g. "30s"`);
  const unit = DURATION_UNITS_MS[match[2]!.toLowerCase()]!;
  return Math.round(Number(match[1]) * unit);
}

/** Formats milliseconds as the largest whole unit, e.g. 90000 -> "90s", 3600000 -> "1h". */
export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    const size = DURATION_UNITS_MS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

// Binary multiples: mail size limits (Exchange's 35 MB, 150 MB) are quoted in MiB in practice.
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i;

/** Parses "512", "100KB", "25MB", "1GB" (binary multiples) into bytes. */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new Error(`invalid size ${input}`);
    return Math.floor(input);
  }
  const match = SIZE_RE.exec(input.trim());
  if (!match)
    throw new Error(`invalid size "${input}": use a number and a unit (B, KB, MB, GB), e.g. "25MB"`);
  return Math.floor(Number(match[1]) * SIZE_UNITS[(match[2] ?? 'b').toLowerCase()]!);
}

/** Formats bytes for people: 26214400 -> "25 MB". */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['GB', 1024 ** 3],
    ['MB', 1024 ** 2],
    ['KB', 1024],
  ] as const) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(1))} ${unit}`;
  }
  return `${bytes} bytes`;
}
