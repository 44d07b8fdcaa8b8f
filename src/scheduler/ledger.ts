/**
 * Where sending budgets are counted: every message a budget key (a mailbox, a tenant's external
 * recipients, a device) spends, and the pauses a quota refusal puts on a key. The arithmetic
 * over these counts is pure (budgets.ts, policy/device-budget.ts); the ledger only stores and
 * locks. With SQLite (one node) the ledger is this process's memory; with PostgreSQL it is a
 * table every node shares, so three nodes together still send at most 30 messages a minute
 * per mailbox (queue/postgres/ledger.ts).
 */

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;
/** Spends older than this are never read again (the longest window is a day). */
export const LEDGER_HORIZON_MS = DAY_MS;

export interface Usage {
  /** When the key spent in the last minute (after now - 1 min, up to now), oldest first. */
  minute: number[];
  /** Recipients the key spent at or after `since` (and up to now). */
  recipients: number;
  /** A pause in force until then (0: none). */
  pausedUntil: number;
  pauseReason: string;
}

/** Reads and writes inside withKeys: the keys it names are held against every other user. */
export interface LedgerTx {
  usage(key: string, now: number, since: number): Promise<Usage>;
  /**
   * When enough of the recipients spent in the last `windowMs` will have left that window for
   * `need` more to fit under `max` (now, if they already fit).
   */
  freedAt(key: string, now: number, windowMs: number, max: number, need: number): Promise<number>;
  /** Counts one message with `recipients` recipients against `key` at `at`; restamp() takes the result. */
  spend(key: string, at: number, recipients: number): Promise<SpendRef>;
}

/** One counted message, so its time can be moved to when it actually left. */
export interface SpendRef {
  key: string;
  id: number;
}

/** A concurrency slot held by one request; freeSlot() gives it back. */
export interface SlotRef {
  key: string;
  id: number;
}

export interface BudgetLedger {
  /** True when other nodes count through the same ledger (a shared database). */
  readonly shared: boolean;
  /**
   * Runs `fn` with `keys` held: no other caller (on this node or, for a shared ledger, on any
   * node) reads or spends them until it returns, so check-then-spend cannot overshoot.
   */
  withKeys<T>(keys: readonly string[], fn: (tx: LedgerTx) => Promise<T>): Promise<T>;
  /**
   * A key's usage without holding it: for checks that spend nothing (a device's rate at MAIL,
   * a lockout at connect), one read instead of a transaction that takes a lock.
   */
  read(key: string, now: number, since: number): Promise<Usage>;
  /** Stops `key` until `until` (a later pause wins; an earlier one leaves it alone). */
  pause(key: string, until: number, reason: string): Promise<void>;
  /**
   * Moves counted messages to `at` (never earlier). A message is counted when it is admitted,
   * but Exchange counts it when it arrives, which may be seconds later (a token to fetch, a
   * pooled connection to wait for): counting it again from then keeps the relay's minute
   * behind Exchange's, never ahead of it. Needs no lock: a later time only ever counts more.
   */
  restamp(spends: readonly SpendRef[], at: number): Promise<void>;
  /**
   * Takes one of `limit` slots of `key` (concurrent requests, across every node sharing the
   * ledger), held until freeSlot() or for `leaseMs` at most, so a node that dies holding one
   * frees it then; null when all are taken.
   */
  takeSlot(key: string, limit: number, now: number, leaseMs: number): Promise<SlotRef | null>;
  /** Keeps a slot held until `until` (a long request renews it while it runs). */
  extendSlot(slot: SlotRef, until: number): Promise<void>;
  freeSlot(slot: SlotRef): Promise<void>;
}

interface Spend {
  at: number;
  recipients: number;
  id: number;
}

interface Entry {
  /** Oldest first. */
  spends: Spend[];
  pausedUntil: number;
  pauseReason: string;
}

/**
 * The ledger of one process: a map and a queue of callers. Right for one node (SQLite); a
 * restart forgets the counts, so the first minute after it may see up to one more minute's
 * worth (Exchange then carries messages over rather than refusing them).
 */
export class MemoryLedger implements BudgetLedger {
  readonly shared = false;
  readonly #entries = new Map<string, Entry>();
  /** Slot id → lease end, per key. */
  readonly #slots = new Map<string, Map<number, number>>();
  #tail: Promise<unknown> = Promise.resolve();
  #nextId = 1;

  withKeys<T>(_keys: readonly string[], fn: (tx: LedgerTx) => Promise<T>): Promise<T> {
    // One caller at a time: cheap in memory, and it keeps check-then-spend whole across awaits.
    const run = this.#tail.then(async () => {
      const made: { entry: Entry; spend: Spend }[] = [];
      try {
        return await fn(this.#tx(made));
      } catch (err) {
        // As a database would roll back: a caller that fails spent nothing.
        for (const { entry, spend } of made) entry.spends.splice(entry.spends.indexOf(spend), 1);
        throw err;
      }
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async read(key: string, now: number, since: number): Promise<Usage> {
    return usageOf(this.#entry(key, now), now, since);
  }

  async pause(key: string, until: number, reason: string): Promise<void> {
    const e = this.#entry(key, until);
    if (until > e.pausedUntil) {
      e.pausedUntil = until;
      e.pauseReason = reason;
    }
  }

  async restamp(spends: readonly SpendRef[], at: number): Promise<void> {
    for (const ref of spends) {
      const e = this.#entries.get(ref.key);
      const spend = e?.spends.find((x) => x.id === ref.id);
      if (!e || !spend || spend.at >= at) continue;
      e.spends.splice(e.spends.indexOf(spend), 1);
      spend.at = at;
      insertInOrder(e.spends, spend);
    }
  }

  async takeSlot(key: string, limit: number, now: number, leaseMs: number): Promise<SlotRef | null> {
    let held = this.#slots.get(key);
    if (!held) this.#slots.set(key, (held = new Map()));
    for (const [id, until] of held) if (until <= now) held.delete(id);
    if (held.size >= limit) return null;
    const id = this.#nextId++;
    held.set(id, now + leaseMs);
    return { key, id };
  }

  async extendSlot(slot: SlotRef, until: number): Promise<void> {
    const held = this.#slots.get(slot.key);
    if (held?.has(slot.id)) held.set(slot.id, until);
  }

  async freeSlot(slot: SlotRef): Promise<void> {
    this.#slots.get(slot.key)?.delete(slot.id);
  }

  #tx(made: { entry: Entry; spend: Spend }[]): LedgerTx {
    return {
      usage: async (key, now, since) => usageOf(this.#entry(key, now), now, since),
      freedAt: async (key, now, windowMs, max, need) =>
        freedAt(this.#entry(key, now).spends, now, windowMs, max, need),
      spend: async (key, at, recipients) => {
        const entry = this.#entry(key, at);
        const spend = { at, recipients, id: this.#nextId++ };
        insertInOrder(entry.spends, spend);
        made.push({ entry, spend });
        return { key, id: spend.id };
      },
    };
  }

  #entry(key: string, now: number): Entry {
    let e = this.#entries.get(key);
    if (!e) {
      e = { spends: [], pausedUntil: 0, pauseReason: '' };
      this.#entries.set(key, e);
    }
    while (e.spends.length > 0 && e.spends[0]!.at <= now - LEDGER_HORIZON_MS) e.spends.shift();
    return e;
  }
}

function usageOf(e: Entry, now: number, since: number): Usage {
  const minute: number[] = [];
  let recipients = 0;
  for (const { at, recipients: n } of e.spends) {
    if (at > now) continue;
    if (at > now - MINUTE_MS) minute.push(at);
    if (at >= since) recipients += n;
  }
  const paused = e.pausedUntil > now;
  return {
    minute,
    recipients,
    pausedUntil: paused ? e.pausedUntil : 0,
    pauseReason: paused ? e.pauseReason : '',
  };
}

/** Walks the window oldest first: the time the spend whose leaving makes room for `need` leaves. */
function freedAt(spends: readonly Spend[], now: number, windowMs: number, max: number, need: number): number {
  const inWindow = spends.filter((s) => s.at > now - windowMs && s.at <= now);
  let total = inWindow.reduce((sum, s) => sum + s.recipients, 0);
  if (total + need <= max) return now;
  let until = now;
  for (const s of inWindow) {
    total -= s.recipients;
    until = s.at + windowMs;
    if (total + need <= max) break;
  }
  return until;
}

/** Kept in time order even if a caller's clock steps back. */
function insertInOrder(spends: Spend[], spend: Spend): void {
  let i = spends.length;
  while (i > 0 && spends[i - 1]!.at > spend.at) i--;
  spends.splice(i, 0, spend);
}
