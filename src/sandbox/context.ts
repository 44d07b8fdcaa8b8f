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
  /** Faults switched on through the control API or the tenant file. */
  faults: Faults;
}

/**
 * Faults on demand, per endpoint. Ratios are drawn from a seeded generator so a test that sets
 * a seed sees the same sequence every run.
 */
export interface Faults {
  seed: number;
  /** Answer the token endpoint with 503 (Entra outage). */
  tokenDown: boolean;
  /** Share of submission and MX transactions answered 451 4.7.0 PRX at MAIL FROM. */
  smtpTempErrorRatio: number;
  /** Drop the connection once the message data has arrived, before any reply. */
  dropAfterData: boolean;
  /** Delay every SMTP reply to MAIL/RCPT/DATA by this much. */
  smtpDelayMs: number;
  /** Share of Graph requests answered 429 with Retry-After (a throttling storm). */
  graphThrottleRatio: number;
  /** Slow Graph: every sendMail takes this long to answer (requests then overlap, as in real life). */
  graphDelayMs: number;
}

export const NO_FAULTS: Faults = {
  seed: 1,
  tokenDown: false,
  smtpTempErrorRatio: 0,
  dropAfterData: false,
  smtpDelayMs: 0,
  graphThrottleRatio: 0,
  graphDelayMs: 0,
};

/** mulberry32: a tiny deterministic generator for fault draws. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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
