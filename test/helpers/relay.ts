import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { type Relay, startRelay } from '../../src/main.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { MessageDetail } from '../../src/queue/store.ts';

export interface TestRelay extends Relay {
  port: number;
  dataDir: string;
  cleanup(): Promise<void>;
}

/** A temporary directory removed when the test ends. */
export function tempDir(prefix = 'bridgehead-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Builds a validated config on a temp spool and port 0, with `overrides` merged over the defaults. */
export function testConfig(overrides: Record<string, unknown> = {}, dataDir = tempDir()): Readonly<Config> {
  const base = {
    relay: { dataDir, hostname: 'relay.test' },
    listeners: [{ host: '127.0.0.1', port: 0 }],
    admin: { port: 0 },
    log: { level: 'fatal', format: 'json' },
  };
  return loadConfig({ env: {}, overrides: mergeDeep(base, overrides) });
}

/** Starts an in-process relay on 127.0.0.1:0 with a temp spool. Call cleanup() in t.after. */
export async function startTestRelay(
  overrides: Record<string, unknown> = {},
  dataDir = tempDir(),
): Promise<TestRelay> {
  const config = testConfig(overrides, dataDir);
  const relay = await startRelay(config, { log: silentLogger() });
  return Object.assign(relay, {
    port: relay.listeners[0]!.port,
    dataDir,
    async cleanup() {
      await relay.stop(100);
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

function mergeDeep(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? mergeDeep(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The queue id from a "250 2.0.0 Ok: queued as <id>" reply. */
export function queuedId(response: string): string {
  const id = /queued as (\S+)/.exec(response)?.[1];
  if (!id) throw new Error(`not a queued reply: ${response}`);
  return id;
}

/** Waits until the stored message satisfies `check` (e.g. its first attempt is recorded) and returns it. */
export function untilMessage(
  store: Relay['store'],
  id: string,
  check: (m: MessageDetail) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<MessageDetail> {
  return waitFor(
    async () => {
      const m = await store.get(id);
      return m && check(m) ? m : null;
    },
    what,
    timeoutMs,
  );
}
