import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cidrMatcher, domainOf, normaliseIp } from '../../../src/util/address.ts';
import { newQueueId, QUEUE_ID_RE } from '../../../src/util/id.ts';
import { formatDuration, formatSize, parseDuration, parseSize } from '../../../src/util/units.ts';

test('parseDuration reads every unit and rejects unit-less or negative input', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1.5h'), 5_400_000);
  assert.equal(parseDuration('5d'), 432_000_000);
  assert.equal(parseDuration('1W'), 604_800_000);
  for (const bad of ['30', 'm', '5 minutes', '-1s', ''])
    assert.throws(() => parseDuration(bad), /invalid duration/);
  assert.equal(formatDuration(3_600_000), '1h');
  assert.equal(formatDuration(90_000), '90s');
  assert.equal(formatDuration(1500), '1500ms');
});

test('parseSize uses binary multiples and formatSize prints them back', () => {
  assert.equal(parseSize('512'), 512);
  assert.equal(parseSize('100KB'), 102_400);
  assert.equal(parseSize('35MB'), 36_700_160);
  assert.equal(parseSize('1gb'), 1_073_741_824);
  for (const bad of ['MB', '10 TB', '-1KB']) assert.throws(() => parseSize(bad), /invalid size/);
  assert.equal(formatSize(36_700_160), '35 MB');
  assert.equal(formatSize(1536), '1.5 KB');
  assert.equal(formatSize(12), '12 bytes');
});

test('queue ids are 22 Crockford base32 characters that sort by time', () => {
  const a = newQueueId(1_700_000_000_000);
  const b = newQueueId(1_700_000_000_001);
  assert.match(a, QUEUE_ID_RE);
  assert.ok(a < b);
  assert.notEqual(newQueueId(5), newQueueId(5), 'random part differs');
});

test('cidrMatcher matches addresses and ranges, IPv4-mapped IPv6 included', () => {
  const allowed = cidrMatcher(['127.0.0.0/8', '10.1.0.0/16', '::1', '2001:db8::/32']);
  assert.ok(allowed('127.0.0.5'));
  assert.ok(allowed('::ffff:10.1.200.3'));
  assert.ok(allowed('::1'));
  assert.ok(allowed('2001:db8:1::7'));
  assert.ok(!allowed('10.2.0.1'));
  assert.ok(!allowed('192.0.2.1'));
  assert.ok(!allowed('not-an-ip'));
  assert.throws(() => cidrMatcher(['10.0.0.0/33']), /prefix/);
  assert.throws(() => cidrMatcher(['printer.lan']), /invalid address/);
  assert.equal(normaliseIp('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(domainOf('User@Example.COM'), 'example.com');
  assert.equal(domainOf(''), '');
});
