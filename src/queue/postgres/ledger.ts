import type { Pool, PoolClient } from 'pg';

import {
  type BudgetLedger,
  LEDGER_HORIZON_MS,
  type LedgerTx,
  MINUTE_MS,
  type SlotRef,
  type SpendRef,
  type Usage,
} from '../../scheduler/ledger.ts';
import * as SQL from './sql/index.ts';
import { inTransaction } from './tx.ts';

/**
 * Advisory lock class for budget keys (the two-number form, so it never meets the migration
 * lock, which uses the one-number form). The second number is the key's hash: two keys that
 * hash alike only wait for each other, they never share counts.
 */
const LOCK_CLASS = 7272;
/** How often one process deletes spends that have left the longest window. */
const PURGE_EVERY_MS = 5 * MINUTE_MS;

/**
 * The budget ledger in PostgreSQL, shared by every node on the database. withKeys takes a
 * transaction-scoped advisory lock per key, in sorted order (so two nodes locking the same
 * pool of mailboxes cannot deadlock), reads and spends on that one connection, and commits:
 * the check and the spend are one step for the whole cluster. Times come from the nodes, so
 * their clocks should agree (NTP); a skew of s seconds widens a minute window by s.
 */
export class PostgresLedger implements BudgetLedger {
  readonly shared = true;
  readonly #pool: Pool;
  #lastPurge = 0;

  constructor(pool: Pool) {
    this.#pool = pool;
  }

  withKeys<T>(keys: readonly string[], fn: (tx: LedgerTx) => Promise<T>): Promise<T> {
    return inTransaction(this.#pool, async (c) => {
      for (const key of [...new Set(keys)].sort()) await c.query(SQL.lockBudgetKey, [LOCK_CLASS, key]);
      return fn(this.#tx(c));
    });
  }

  read(key: string, now: number, since: number): Promise<Usage> {
    return readUsage(this.#pool, key, now, since);
  }

  async pause(key: string, until: number, reason: string): Promise<void> {
    await this.#pool.query(SQL.upsertPause, [key, until, reason]);
  }

  async restamp(spends: readonly SpendRef[], at: number): Promise<void> {
    if (spends.length === 0) return;
    await this.#pool.query(SQL.restampSpends, [spends.map((s) => s.id), at]);
  }

  takeSlot(key: string, limit: number, now: number, leaseMs: number): Promise<SlotRef | null> {
    return inTransaction(this.#pool, async (c) => {
      await c.query(SQL.lockBudgetKey, [LOCK_CLASS, `slot:${key}`]);
      // A slot whose holder died (no freeSlot) ends with its lease.
      await c.query(SQL.expireSlots, [key, now]);
      const { rows } = await c.query(SQL.takeSlot, [key, now + leaseMs, limit]);
      return rows[0] ? { key, id: rows[0].id as number } : null;
    });
  }

  async extendSlot(slot: SlotRef, until: number): Promise<void> {
    await this.#pool.query(SQL.extendSlot, [slot.id, until]);
  }

  async freeSlot(slot: SlotRef): Promise<void> {
    await this.#pool.query(SQL.freeSlot, [slot.id]);
  }

  #tx(c: PoolClient): LedgerTx {
    return {
      usage: (key, now, since) => readUsage(c, key, now, since),
      freedAt: async (key, now, windowMs, max, need) => {
        // Walk the window oldest first with a running total: the first spend whose leaving
        // makes room is the one to wait for.
        const r = (await c.query(SQL.budgetFreedAt, [key, now, windowMs, max, need])).rows[0]!;
        if (Number(r.total ?? 0) + need <= max) return now;
        return Number(r.at ?? now) + windowMs;
      },
      spend: async (key, at, recipients) => {
        const { rows } = await c.query(SQL.insertSpend, [key, at, recipients]);
        if (at - this.#lastPurge > PURGE_EVERY_MS) {
          this.#lastPurge = at;
          await c.query(SQL.purgeSpends, [at - LEDGER_HORIZON_MS]);
          await c.query(SQL.purgePauses, [at]);
        }
        return { key, id: rows[0]!.id as number };
      },
    };
  }
}

/** A key's usage, read on the pool (no lock) or on a transaction's connection (under its lock). */
async function readUsage(db: Pool | PoolClient, key: string, now: number, since: number): Promise<Usage> {
  const r = (await db.query(SQL.budgetUsage, [key, now, since])).rows[0]!;
  return {
    minute: (r.minute as string[]).map(Number),
    recipients: Number(r.recipients),
    pausedUntil: r.paused_until === null ? 0 : Number(r.paused_until),
    pauseReason: (r.pause_reason as string | null) ?? '',
  };
}
