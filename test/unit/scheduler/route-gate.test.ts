import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RouteGate } from '../../../src/scheduler/route-gate.ts';

test('a paused route stays paused until its time; a 432 narrows concurrency by one, never below one', () => {
  const gate = new RouteGate();
  gate.pause('m365', 5_000);
  assert.equal(gate.pausedUntil('m365', 1_000), 5_000);
  assert.equal(gate.pausedUntil('m365', 5_000), null);
  assert.equal(gate.pausedUntil('other', 0), null);
  assert.equal(gate.concurrency('m365', 10), 10);
  gate.narrow('m365', 3, Date.now());
  assert.equal(gate.concurrency('m365', 10), 2);
  gate.narrow('m365', 2, Date.now());
  gate.narrow('m365', 1, Date.now());
  assert.equal(gate.concurrency('m365', 10), 1);
  gate.narrow('expired', 3, Date.now() - 11 * 60_000);
  assert.equal(gate.concurrency('expired', 10), 10, 'the cap lapses after ten minutes');
});
