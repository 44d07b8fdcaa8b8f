import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MemoryLedger } from '../../../src/scheduler/ledger.ts';
import { SharedSlots } from '../../../src/scheduler/slots.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('shared slots: two "nodes" on one ledger never hold more than the limit together; waits are reported', async () => {
  const ledger = new MemoryLedger();
  const waits: number[] = [];
  const node = () => new SharedSlots(ledger, 2, { pollMs: 5, onWait: (_k, ms) => waits.push(ms) });
  const a = node();
  const b = node();
  let inFlight = 0;
  let peak = 0;
  const request = (slots: SharedSlots) =>
    slots.run('graph:contoso', async () => {
      peak = Math.max(peak, ++inFlight);
      await sleep(30);
      inFlight--;
    });
  // Each node alone would run two at once: four together, if the ledger did not count for both.
  await Promise.all([request(a), request(a), request(b), request(b), request(a), request(b)]);
  assert.equal(peak, 2);
  assert.ok(
    waits.length >= 2,
    `the requests that found every slot taken reported their wait (${waits.length})`,
  );
  assert.ok(waits.every((ms) => ms > 0));
  assert.ok(await ledger.takeSlot('graph:contoso', 2, Date.now(), 1000), 'all slots given back');
});

test('shared slots: a request that fails gives its slot back; all slots held past maxWait fails with ESLOTWAIT', async () => {
  const ledger = new MemoryLedger();
  const slots = new SharedSlots(ledger, 1, { pollMs: 5, maxWaitMs: 60 });
  await assert.rejects(
    slots.run('smtp:scanner@contoso.com', async () => {
      throw new Error('upstream said no');
    }),
    /upstream said no/,
  );
  const other = await ledger.takeSlot('smtp:scanner@contoso.com', 1, Date.now(), 60_000);
  assert.ok(other, 'the failed request freed its slot');
  await assert.rejects(
    slots.run('smtp:scanner@contoso.com', async () => 'never'),
    (err: Error & { code?: string }) =>
      err.code === 'ESLOTWAIT' &&
      /all 1 concurrent smtp:scanner@contoso\.com requests stayed taken/.test(err.message),
  );
  await ledger.freeSlot(other);
  assert.equal(await slots.run('smtp:scanner@contoso.com', async () => 'sent'), 'sent');
});
