import assert from 'node:assert/strict';
import { test } from 'node:test';

import { checkBudget, mailboxKey, type MailboxLimits } from '../../../src/scheduler/budgets.ts';
import { MemoryLedger } from '../../../src/scheduler/ledger.ts';

const T0 = Date.UTC(2026, 10, 22, 9, 0, 0);

/** The budget arithmetic over a real (in-memory) ledger, on a hand-moved clock. */
function rig(limits: MailboxLimits) {
  const ledger = new MemoryLedger();
  const clock = { now: T0 };
  return {
    clock,
    ledger,
    check: (mailbox: string, recipients: number) =>
      ledger.withKeys([mailboxKey(mailbox)], async (tx) => {
        const { headroom: _h, ...v } = await checkBudget(
          tx,
          mailboxKey(mailbox),
          mailbox,
          limits,
          recipients,
          clock.now,
        );
        return v;
      }),
    headroom: (mailbox: string) =>
      ledger.withKeys(
        [mailboxKey(mailbox)],
        async (tx) => (await checkBudget(tx, mailboxKey(mailbox), mailbox, limits, 0, clock.now)).headroom,
      ),
    record: (mailbox: string, recipients: number) =>
      ledger.withKeys([mailboxKey(mailbox)], (tx) => tx.spend(mailboxKey(mailbox), clock.now, recipients)),
  };
}

test('messages a minute: the 31st waits until the first of the last 30 is a minute old', async () => {
  const b = rig({ messagesPerMinute: 30, recipientsPerDay: 10_000 });
  for (let i = 0; i < 30; i++) {
    assert.deepEqual(await b.check('scanner@contoso.com', 1), { ok: true }, `message ${i + 1}`);
    await b.record('scanner@contoso.com', 1);
    b.clock.now += 1000;
  }
  const v = await b.check('Scanner@Contoso.com', 1);
  assert.equal(v.ok, false, 'addresses are compared case-insensitively');
  assert.equal(!v.ok && v.until, T0 + 60_000);
  assert.match(!v.ok ? v.reason : '', /sent 30 messages in the last minute/);
  b.clock.now = T0 + 60_000;
  assert.deepEqual(await b.check('scanner@contoso.com', 1), { ok: true });
  assert.deepEqual(await b.check('other@contoso.com', 1), { ok: true }, 'each mailbox has its own budget');
});

test('recipients per rolling 24 hours: waits until enough old recipients leave the window', async () => {
  const b = rig({ messagesPerMinute: 1000, recipientsPerDay: 100 });
  await b.record('m@x', 40);
  b.clock.now += 3_600_000;
  await b.record('m@x', 50);
  assert.deepEqual(await b.check('m@x', 10), { ok: true });
  const v = await b.check('m@x', 20);
  assert.equal(!v.ok && v.until, T0 + 86_400_000, 'the first 40 leave the window a day after they were sent');
  assert.match(!v.ok ? v.reason : '', /reached 100 recipients in 24 hours \(90 sent\)/);
  b.clock.now = T0 + 86_400_000;
  assert.deepEqual(await b.check('m@x', 20), { ok: true });
  // A message bigger than a whole day's budget is let through (Exchange will answer for it).
  assert.deepEqual(await rig({ messagesPerMinute: 5, recipientsPerDay: 100 }).check('n@x', 500), {
    ok: true,
  });
});

test('a pause from a quota refusal stops the mailbox until it ends; headroom orders a pool', async () => {
  const b = rig({ messagesPerMinute: 10, recipientsPerDay: 100 });
  await b.ledger.pause(mailboxKey('a@x'), T0 + 3_600_000, 'a@x paused after: 554 5.2.0 quota');
  await b.ledger.pause(mailboxKey('a@x'), T0 + 60_000, 'an earlier end does not shorten it');
  assert.deepEqual(await b.check('a@x', 1), {
    ok: false,
    until: T0 + 3_600_000,
    reason: 'a@x paused after: 554 5.2.0 quota',
  });
  assert.equal(await b.headroom('a@x'), 0);
  await b.record('b@x', 5);
  assert.equal(await b.headroom('b@x'), 0.9);
  assert.equal(await b.headroom('c@x'), 1);
  b.clock.now = T0 + 3_600_000;
  assert.deepEqual(await b.check('a@x', 1), { ok: true });
});
