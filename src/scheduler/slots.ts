import { Semaphore } from '../util/semaphore.ts';
import type { BudgetLedger, SlotRef } from './ledger.ts';

/** At most a fixed number of requests at once per key (Graph: four per app, facts §5). */
export interface ConcurrencySlots {
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

/** One process: a semaphore per key, waiters served in arrival order. */
export class LocalSlots implements ConcurrencySlots {
  readonly #limit: number;
  readonly #semaphores = new Map<string, Semaphore>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let s = this.#semaphores.get(key);
    if (!s) this.#semaphores.set(key, (s = new Semaphore(this.#limit)));
    return s.run(fn);
  }
}

const MAX_POLL_MS = 1000;

export interface SharedSlotOptions {
  /** A slot's lease, renewed every third of it while its request runs; a dead node's slot ends with it. */
  leaseMs?: number;
  /** First pause between looks when every slot is taken, doubling (with jitter, so nodes do not ask in step). */
  pollMs?: number;
  /** Longest wait for a slot; then the send fails with ESLOTWAIT and is retried later. */
  maxWaitMs?: number;
  now?: () => number;
  /** Told how long a request waited for a slot the other nodes held (only when it had to wait). */
  onWait?: (key: string, waitedMs: number) => void;
}

/**
 * Every node together: a request first takes this node's own semaphore (no database round
 * trip while this node alone fills the limit), then a slot in the shared ledger, looked for
 * again every pollMs while other nodes hold them all.
 */
export class SharedSlots implements ConcurrencySlots {
  readonly #ledger: BudgetLedger;
  readonly #limit: number;
  readonly #local: LocalSlots;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #maxWaitMs: number;
  readonly #now: () => number;
  readonly #onWait: (key: string, waitedMs: number) => void;

  constructor(ledger: BudgetLedger, limit: number, options: SharedSlotOptions = {}) {
    this.#ledger = ledger;
    this.#limit = limit;
    this.#local = new LocalSlots(limit);
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#pollMs = options.pollMs ?? 100;
    this.#maxWaitMs = options.maxWaitMs ?? 120_000;
    this.#now = options.now ?? Date.now;
    this.#onWait = options.onWait ?? (() => undefined);
  }

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.#local.run(key, async () => {
      const slot = await this.#take(key);
      const renew = setInterval(
        () => void this.#ledger.extendSlot(slot, this.#now() + this.#leaseMs).catch(() => undefined),
        this.#leaseMs / 3,
      );
      renew.unref();
      try {
        return await fn();
      } finally {
        clearInterval(renew);
        // If this fails the lease ends the slot instead.
        await this.#ledger.freeSlot(slot).catch(() => undefined);
      }
    });
  }

  async #take(key: string): Promise<SlotRef> {
    const started = this.#now();
    const deadline = started + this.#maxWaitMs;
    let pauseMs = this.#pollMs;
    for (let looks = 0; ; looks++) {
      const slot = await this.#ledger.takeSlot(key, this.#limit, this.#now(), this.#leaseMs);
      if (slot) {
        if (looks > 0) this.#onWait(key, this.#now() - started);
        return slot;
      }
      if (this.#now() >= deadline)
        throw Object.assign(
          new Error(
            `all ${this.#limit} concurrent ${key} requests stayed taken by other nodes for ${Math.round(this.#maxWaitMs / 1000)} s`,
          ),
          { code: 'ESLOTWAIT' },
        );
      await new Promise((r) => setTimeout(r, pauseMs * (0.5 + Math.random())));
      // Waiters back off to a look a second at most, so a crowd of them stays cheap.
      pauseMs = Math.min(pauseMs * 2, MAX_POLL_MS);
    }
  }
}
