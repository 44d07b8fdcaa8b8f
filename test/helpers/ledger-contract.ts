import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { BudgetLedger } from '../../src/scheduler/ledger.ts';

export interface LedgerFactory {
  name: string;
  /** A fresh, empty ledger and how to let it go. */
  create(): Promise<{ ledger: BudgetLedger; cleanup(): Promise<void> }>;
}

const T0 = Date.UTC(2026, 11, 1, 9, 0, 0);
const MIN = 60_000;
const DAY = 86_400_000;

/**
 * What every budget ledger must do, whether it is one process's memory (SQLite) or a table
 * every node shares (PostgreSQL). Runs unchanged against each.
 */
export function ledgerContract(factory: LedgerFactory): void {
  const it = (name: string, fn: (ledger: BudgetLedger) => Promise<void>) =>
    test(`${factory.name} ledger: ${name}`, async (t) => {
      const { ledger, cleanup } = await factory.create();
      t.after(cleanup);
      await fn(ledger);
    });

  it('usage: the minute is the last 60 s, recipients count from `since`, the future is not counted', async (l) => {
    await l.withKeys(['k'], async (tx) => {
      await tx.spend('k', T0 - DAY, 100); // exactly a day old: gone from a rolling day
      await tx.spend('k', T0 - MIN, 1); // exactly a minute old: out of the minute
      await tx.spend('k', T0 - 30_000, 2);
      await tx.spend('k', T0, 3);
      await tx.spend('k', T0 + 1000, 4); // a clock ahead of ours
      await tx.spend('other', T0, 50);
    });
    const u = await l.withKeys(['k'], (tx) => tx.usage('k', T0, T0 - DAY + 1));
    assert.deepEqual(u, { minute: [T0 - 30_000, T0], recipients: 6, pausedUntil: 0, pauseReason: '' });
    const fromMidnight = await l.withKeys(['k'], (tx) => tx.usage('k', T0, T0 - 30_000));
    assert.equal(fromMidnight.recipients, 5);
    assert.deepEqual(await l.read('k', T0, T0 - DAY + 1), u, 'a read without the lock sees the same');
    const empty = await l.withKeys(['none'], (tx) => tx.usage('none', T0, 0));
    assert.deepEqual(empty, { minute: [], recipients: 0, pausedUntil: 0, pauseReason: '' });
  });

  it('freedAt: the time the oldest spends leave the window and make room', async (l) => {
    await l.withKeys(['m'], async (tx) => {
      await tx.spend('m', T0, 40);
      await tx.spend('m', T0 + 3_600_000, 50);
    });
    const now = T0 + 7_200_000;
    const at = (need: number) => l.withKeys(['m'], (tx) => tx.freedAt('m', now, DAY, 100, need));
    assert.equal(await at(10), now, 'fits now');
    assert.equal(await at(20), T0 + DAY, 'after the first 40 leave');
    assert.equal(await at(60), T0 + 3_600_000 + DAY, 'after both leave');
  });

  it('pause: a later end wins, an earlier one does not shorten it, and it ends', async (l) => {
    await l.pause('p', T0 + 3_600_000, 'quota: 554 5.2.0');
    await l.pause('p', T0 + MIN, 'shorter');
    const during = await l.withKeys(['p'], (tx) => tx.usage('p', T0, T0 - DAY));
    assert.equal(during.pausedUntil, T0 + 3_600_000);
    assert.equal(during.pauseReason, 'quota: 554 5.2.0');
    await l.pause('p', T0 + 7_200_000, 'longer');
    assert.equal((await l.withKeys(['p'], (tx) => tx.usage('p', T0, 0))).pauseReason, 'longer');
    const after = await l.withKeys(['p'], (tx) => tx.usage('p', T0 + 7_200_000, 0));
    assert.deepEqual([after.pausedUntil, after.pauseReason], [0, '']);
  });

  it('withKeys makes check-then-spend whole: 60 callers at once, 30 allowed, exactly 30 spent', async (l) => {
    const take = () =>
      l.withKeys(['mailbox:scanner@contoso.com'], async (tx) => {
        const u = await tx.usage('mailbox:scanner@contoso.com', T0, T0 - DAY);
        if (u.minute.length >= 30) return false;
        await tx.spend('mailbox:scanner@contoso.com', T0, 1);
        return true;
      });
    const got = await Promise.all(Array.from({ length: 60 }, take));
    assert.equal(got.filter(Boolean).length, 30);
    const u = await l.withKeys(['mailbox:scanner@contoso.com'], (tx) =>
      tx.usage('mailbox:scanner@contoso.com', T0, T0 - DAY),
    );
    assert.equal(u.minute.length, 30);
  });

  it('restamp moves a counted message to when it left, never earlier', async (l) => {
    const [a, b] = await l.withKeys(['r'], async (tx) => [
      await tx.spend('r', T0, 1),
      await tx.spend('r', T0 + 1000, 1),
    ]);
    await l.restamp([a!], T0 + 30_000);
    await l.restamp([b!], T0); // earlier than it is: stays
    const u = await l.withKeys(['r'], (tx) => tx.usage('r', T0 + 61_000, T0));
    assert.deepEqual(u.minute, [T0 + 30_000], 'the first now counts from its send time');
    assert.equal(u.recipients, 2);
  });

  it('slots: at most `limit` held at once, even when asked together; freed, extended and expired', async (l) => {
    const asked = await Promise.all(Array.from({ length: 10 }, () => l.takeSlot('graph:app', 4, T0, 30_000)));
    const held = asked.filter((x) => x !== null);
    assert.equal(held.length, 4);
    assert.equal(await l.takeSlot('graph:app', 4, T0, 30_000), null);
    assert.ok(await l.takeSlot('graph:other', 4, T0, 30_000), 'each key has its own slots');
    await l.freeSlot(held[0]!);
    const again = await l.takeSlot('graph:app', 4, T0 + 1, 30_000);
    assert.ok(again, 'a freed slot can be taken');
    await l.extendSlot(held[1]!, T0 + 120_000);
    // Two leases end at T0 + 30 s (a node that died holding them); the extended one and the
    // one taken a millisecond later still hold.
    assert.ok(await l.takeSlot('graph:app', 4, T0 + 30_000, 30_000));
    assert.ok(await l.takeSlot('graph:app', 4, T0 + 30_000, 30_000));
    assert.equal(await l.takeSlot('graph:app', 4, T0 + 30_000, 30_000), null);
  });

  it('a caller that fails spends nothing, and the keys are free again', async (l) => {
    await assert.rejects(
      l.withKeys(['f'], async (tx) => {
        await tx.spend('f', T0, 5);
        throw new Error('boom');
      }),
      /boom/,
    );
    const u = await l.withKeys(['f'], (tx) => tx.usage('f', T0, 0));
    assert.equal(u.recipients, 0);
  });
}
