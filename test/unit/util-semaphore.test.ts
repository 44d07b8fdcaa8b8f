import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Semaphore } from '../../src/util/semaphore.ts';

test('semaphore: never more than the limit at once, waiters served in arrival order, slots freed on error', async () => {
  const s = new Semaphore(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const job = (i: number) =>
    s.run(async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      order.push(i);
      running--;
      if (i === 1) throw new Error('boom');
      return i;
    });
  const results = await Promise.allSettled([0, 1, 2, 3, 4].map(job));
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  assert.equal(results[1]!.status, 'rejected');
  assert.equal(s.held, 0);
});
