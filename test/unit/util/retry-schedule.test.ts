import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseRetrySchedule, retryDelay, RetryScheduleError } from '../../../src/util/retry-schedule.ts';

test('the default schedule expands repeats and the last step repeats forever', () => {
  const s = parseRetrySchedule('1m,5m,15m,30m,1h*4,2h');
  const min = 60_000;
  assert.deepEqual(s.steps, [
    min,
    5 * min,
    15 * min,
    30 * min,
    60 * min,
    60 * min,
    60 * min,
    60 * min,
    120 * min,
  ]);
  assert.equal(retryDelay(s, 1), min);
  assert.equal(retryDelay(s, 5), 60 * min);
  assert.equal(retryDelay(s, 9), 120 * min);
  assert.equal(retryDelay(s, 50), 120 * min);
  assert.equal(retryDelay(s, 0), min, 'attempt counts below 1 use the first step');
});

test('parse errors name the position and the element', () => {
  const cases: [string, number, RegExp][] = [
    ['1m,,5m', 2, /empty element/],
    ['1m,5x', 2, /invalid duration/],
    ['1m,5m*0', 2, /between 1 and 1000/],
    ['1h*two', 1, /whole number/],
    ['1m*2*3', 1, /more than one/],
    ['0s', 1, /greater than zero/],
  ];
  for (const [text, position, reason] of cases) {
    assert.throws(
      () => parseRetrySchedule(text),
      (err: unknown) =>
        err instanceof RetryScheduleError && err.position === position && reason.test(err.message),
      text,
    );
  }
});
