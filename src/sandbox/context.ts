import type { Logger } from '../observability/logger.ts';
import type { SandboxPki } from './pki.ts';
import type { SandboxState } from './state.ts';
import type { Tenant } from './tenant.ts';

/** Everything a sandbox endpoint needs; endpoints share the tenant and its state. */
export interface SandboxContext {
  tenant: Tenant;
  state: SandboxState;
  pki: SandboxPki;
  log: Logger;
  now: () => number;
  /** Rolling window counters shared by the endpoints (tenant external recipients, per mailbox sends). */
  counters: RollingCounters;
}

/** Timestamps per key, trimmed to a window: enough for "N per minute" and "N per 24 h" limits. */
export class RollingCounters {
  readonly #events = new Map<string, number[]>();

  add(key: string, at: number, count = 1): void {
    const list = this.#events.get(key) ?? [];
    for (let i = 0; i < count; i++) list.push(at);
    this.#events.set(key, list);
  }

  count(key: string, windowMs: number, now: number): number {
    const list = this.#events.get(key);
    if (!list) return 0;
    const from = now - windowMs;
    while (list.length && list[0]! <= from) list.shift();
    return list.length;
  }

  reset(): void {
    this.#events.clear();
  }
}

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;
