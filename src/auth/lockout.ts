/**
 * Counts failed AUTH attempts per client address; `maxFailures` within `windowMs` locks the
 * address out for `lockoutMs` (421 4.7.0 at connect and at AUTH). A success clears the count.
 * In memory: a restart lifts every lockout, which an attacker cannot trigger.
 */
export interface LockoutSettings {
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
}

interface Entry {
  failures: number[];
  lockedUntil: number;
}

/** Entries kept at most; beyond that the oldest are dropped (a spray from many addresses). */
const MAX_ENTRIES = 100_000;

export class AuthLockout {
  readonly #entries = new Map<string, Entry>();
  readonly #settings: LockoutSettings;
  readonly #now: () => number;

  constructor(settings: LockoutSettings, now: () => number = Date.now) {
    this.#settings = settings;
    this.#now = now;
  }

  /** The time the lockout of `ip` ends, or null when it is not locked out. */
  lockedUntil(ip: string): number | null {
    const e = this.#entries.get(ip);
    return e && e.lockedUntil > this.#now() ? e.lockedUntil : null;
  }

  /** Records a failure; returns the lockout end when this failure locked the address. */
  fail(ip: string): number | null {
    const now = this.#now();
    let e = this.#entries.get(ip);
    if (!e) {
      if (this.#entries.size >= MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
      e = { failures: [], lockedUntil: 0 };
      this.#entries.set(ip, e);
    }
    e.failures = e.failures.filter((t) => t > now - this.#settings.windowMs);
    e.failures.push(now);
    if (e.failures.length >= this.#settings.maxFailures) {
      e.failures = [];
      e.lockedUntil = now + this.#settings.lockoutMs;
      return e.lockedUntil;
    }
    return null;
  }

  succeed(ip: string): void {
    this.#entries.delete(ip);
  }
}
