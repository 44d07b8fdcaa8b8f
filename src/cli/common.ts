import { existsSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { isRelayError } from '../errors.ts';

/** Exit codes every command uses (sysexits-style where one fits). */
export const EXIT = {
  ok: 0,
  /** The operation ran and failed (message not found, test message refused, start-up failed). */
  failed: 1,
  /** Bad command line. */
  usage: 2,
  /** Invalid or unreadable configuration (EX_CONFIG). */
  config: 78,
} as const;

export class UsageError extends Error {}

export const CONFIG_OPTION = { config: { type: 'string', short: 'c' } } as const;
export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/** parseArgs with our usage error type, so the dispatcher can print help and exit 2. */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  allowPositionals = true,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The config file in use: -c, then BRIDGEHEAD_CONFIG, then ./bridgehead.yaml if present; else none (embedded defaults). */
export function configPath(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (flag) return flag;
  if (env.BRIDGEHEAD_CONFIG) return env.BRIDGEHEAD_CONFIG;
  return existsSync('bridgehead.yaml') ? 'bridgehead.yaml' : undefined;
}

/** Loads the configuration or prints every problem and returns null. */
export function loadOrReport(file: string | undefined): Readonly<Config> | null {
  try {
    return loadConfig({ file });
  } catch (err) {
    if (isRelayError(err)) {
      console.error(err.message);
      return null;
    }
    throw err;
  }
}

/** Prints rows as an aligned plain-text table. */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  console.log(line(headers));
  for (const row of rows) console.log(line(row));
}

export function iso(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace('.000Z', 'Z');
}
