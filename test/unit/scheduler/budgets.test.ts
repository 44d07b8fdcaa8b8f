import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MailboxBudgets } from '../../../src/scheduler/budgets.ts';

const T0 = Date.UTC(2026, 10, 22, 9, 0, 0);

test('messages a minute: the 31st waits until the first of the last 30 is a minute old', () => {
  let now = T0;
  const b = new MailboxBudgets(
    () => ({ messagesPerMinute: 30, recipientsPerDay: 10_000 }),
    () => now,
  );
  for (let i = 0; i < 30; i++) {
    assert.deepEqual(b.check('scanner@contoso.com', 1), { ok: true }, `message ${i + 1}`);
    b.record('scanner@contoso.com', 1);
    now += 1000;
  }
  const v = b.check('Scanner@Contoso.com', 1);
  assert.equal(v.ok, false, 'addresses are compared case-insensitively');
  assert.equal(!v.ok && v.until, T0 + 60_000);
  assert.match(!v.ok ? v.reason : '', /sent 30 messages in the last minute/);
  now = T0 + 60_000;
  assert.deepEqual(b.check('scanner@contoso.com', 1), { ok: true });
  assert.deepEqual(b.check('other@contoso.com', 1), { ok: true }, 'each mailbox has its own budget');
});

test('recipients per rolling 24 hours: waits until enough old recipients leave the window', () => {
  let now = T0;
  const b = new MailboxBudgets(
    () => ({ messagesPerMinute: 1000, recipientsPerDay: 100 }),
    () => now,
  );
  b.record('m@x', 40);
  now += 3_600_000;
  b.record('m@x', 50);
  assert.deepEqual(b.check('m@x', 10), { ok: true });
  const v = b.check('m@x', 20);
  assert.equal(!v.ok && v.until, T0 + 86_400_000, 'the first 40 leave the window a day after they were sent');
  assert.match(!v.ok ? v.reason : '', /reached 100 recipients in 24 hours \(90 sent\)/);
  now = T0 + 86_400_000;
  assert.deepEqual(b.check('m@x', 20), { ok: true });
  // A message bigger than a whole day's budget is let through (Exchange will answer for it).
  assert.deepEqual(
    new MailboxBudgets(
      () => ({ messagesPerMinute: 5, recipientsPerDay: 100 }),
      () => now,
    ).check('n@x', 500),
    {
      ok: true,
    },
  );
});

test('a pause from a quota refusal stops the mailbox until it ends; headroom orders a pool', () => {
  let now = T0;
  const b = new MailboxBudgets(
    () => ({ messagesPerMinute: 10, recipientsPerDay: 100 }),
    () => now,
  );
  b.pause('a@x', T0 + 3_600_000, 'a@x paused after: 554 5.2.0 quota');
  assert.deepEqual(b.check('a@x', 1), {
    ok: false,
    until: T0 + 3_600_000,
    reason: 'a@x paused after: 554 5.2.0 quota',
  });
  assert.equal(b.headroom('a@x'), 0);
  b.record('b@x', 5);
  assert.equal(b.headroom('b@x'), 0.9);
  assert.equal(b.headroom('c@x'), 1);
  now = T0 + 3_600_000;
  assert.deepEqual(b.check('a@x', 1), { ok: true });
});
