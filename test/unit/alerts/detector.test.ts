import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AnomalyDetector } from '../../../src/alerts/detector.ts';

const HOUR = 3_600_000;
const DAY0 = Date.UTC(2026, 10, 16); // a Monday, 00:00 UTC

function detector(now: () => number) {
  return new AnomalyDetector(
    { volumeFactor: 5, minMessagesPerHour: 20, learningHours: 24, refusalsPerWindow: 10, cooldownMs: HOUR },
    now,
  );
}

/** Two days of a scanner that sends 8 messages at 09:00 UTC and nothing else. */
function learn(d: AnomalyDetector, clock: { t: number }) {
  for (let day = 0; day < 2; day++)
    for (let i = 0; i < 8; i++) {
      clock.t = DAY0 + day * 24 * HOUR + 9 * HOUR + i * 60_000;
      assert.deepEqual(d.message('device printers/10.0.0.7', 1, ['contoso.com']), []);
    }
}

test('volume: a burst far above the usual for that hour raises one alert; the usual does not', () => {
  const clock = { t: DAY0 };
  const d = detector(() => clock.t);
  learn(d, clock);
  // Day 3, 09:00: 30 messages is under 5 x 8 = 40: no alert.
  const alerts = [];
  for (let i = 0; i < 30; i++) {
    clock.t = DAY0 + 2 * 24 * HOUR + 9 * HOUR + i * 1000;
    alerts.push(...d.message('device printers/10.0.0.7', 1, ['contoso.com']));
  }
  assert.deepEqual(alerts, []);
  // Day 3, 21:00 (a silent hour): above minMessagesPerHour is enough.
  const night = [];
  for (let i = 0; i < 25; i++) {
    clock.t = DAY0 + 2 * 24 * HOUR + 21 * HOUR + i * 1000;
    night.push(...d.message('device printers/10.0.0.7', 1, ['contoso.com']));
  }
  // 21:00 was already seen as an empty hour in the baseline, so the 21st message alerts, once (cooldown).
  assert.equal(night.length, 1);
  assert.equal(night[0]!.kind, 'volume');
  assert.match(night[0]!.summary, /sent 21 messages this hour; usual for this hour is 0\.0/);
});

test('volume: nothing is judged before learningHours of history', () => {
  const clock = { t: DAY0 };
  const d = detector(() => clock.t);
  const alerts = [];
  for (let i = 0; i < 500; i++) {
    clock.t = DAY0 + i * 1000;
    alerts.push(...d.message('device new/10.0.0.9', 1, ['contoso.com']));
  }
  assert.deepEqual(alerts, []);
});

test('new-domain: a device with a history that starts sending to an unknown domain; each domain once', () => {
  const clock = { t: DAY0 };
  const d = detector(() => clock.t);
  learn(d, clock);
  clock.t += HOUR;
  const a = d.message('device printers/10.0.0.7', 2, ['contoso.com', 'gmail.com']);
  assert.deepEqual(
    a.map((x) => [x.kind, x.details.domain]),
    [['new-domain', 'gmail.com']],
  );
  assert.deepEqual(d.message('device printers/10.0.0.7', 1, ['gmail.com']), []);
  assert.deepEqual(d.message('mailbox scanner@contoso.com', 2), [], 'mailboxes do not track domains');
});

test('refusals: a spike from one address alerts once per cooldown', () => {
  const clock = { t: DAY0 };
  const d = detector(() => clock.t);
  const raised = [];
  for (let i = 0; i < 25; i++) {
    clock.t = DAY0 + i * 5000;
    raised.push(...d.refusal('10.0.0.66', '535 5.7.8 Authentication credentials invalid'));
    assert.deepEqual(d.refusal(`10.1.0.${i}`, '554 5.7.1'), [], 'spread over addresses: nothing');
  }
  assert.equal(raised.length, 1);
  assert.match(raised[0]!.summary, /^10 refusals for 10\.0\.0\.66 in five minutes; last: 535 5\.7\.8/);
  clock.t += HOUR + 1;
  assert.deepEqual(d.refusal('10.0.0.66', 'x'), [], 'old refusals left the window');
});
