import assert from 'node:assert/strict';
import { test } from 'node:test';

import { normaliseLineEndings, repairMessage } from '../../../src/smtp/repair.ts';

const ctx = {
  mailFrom: 'mfp@contoso.com',
  hostname: 'relay.test',
  queueId: 'Q1',
  now: new Date(Date.UTC(2026, 10, 22, 9, 5, 7)),
};
const COMPLETE = 'From: a@contoso.com\r\nDate: Sun, 22 Nov 2026 09:00:00 +0000\r\nMessage-ID: <m@x>\r\n';

test('a complete, CRLF message is returned as the same buffer, untouched', () => {
  const input = Buffer.from(`${COMPLETE}Subject: ok\r\n\r\nbody\r\n.. not a terminator\r\n`);
  const r = repairMessage(input, ctx);
  assert.equal(r.body, input);
  assert.deepEqual(r.repairs, []);
});

test('missing From, Date and Message-ID are added at the end of the header block', () => {
  const r = repairMessage(Buffer.from('Subject: Scan\r\nTo: b@contoso.com\r\n\r\nbody\r\n'), ctx);
  assert.equal(
    r.body.toString(),
    'Subject: Scan\r\nTo: b@contoso.com\r\nFrom: <mfp@contoso.com>\r\nDate: Sun, 22 Nov 2026 09:05:07 +0000\r\nMessage-ID: <Q1@relay.test>\r\n\r\nbody\r\n',
  );
  assert.deepEqual(r.repairs, ['from-added', 'date-added', 'message-id-added']);
  const bounce = repairMessage(Buffer.from(`Date: x\r\nMessage-ID: <a@b>\r\n\r\nb`), {
    ...ctx,
    mailFrom: '',
  });
  assert.match(
    bounce.body.toString(),
    /^Date: x\r\nMessage-ID: <a@b>\r\nFrom: <postmaster@relay\.test>\r\n\r\nb$/,
  );
});

test('a message with no header block at all (telnet, a bare body) gets one', () => {
  const r = repairMessage(Buffer.from('This is a test email sent via Telnet.\r\n'), ctx);
  assert.equal(
    r.body.toString(),
    'From: <mfp@contoso.com>\r\nDate: Sun, 22 Nov 2026 09:05:07 +0000\r\nMessage-ID: <Q1@relay.test>\r\n\r\nThis is a test email sent via Telnet.\r\n',
  );
  assert.equal(r.repairs[0], 'header-block');
});

test('bare LF and bare CR become CRLF; every smuggling end-of-data variant becomes a plain dot line', () => {
  assert.equal(normaliseLineEndings(Buffer.from('a\nb\rc\r\nd')).toString(), 'a\r\nb\r\nc\r\nd');
  for (const eod of ['\n.\n', '\r.\r', '\r\n.\n', '\n.\r\n', '\r.\r\n', '\r\n.\r']) {
    const r = repairMessage(Buffer.from(`${COMPLETE}\r\nhello${eod}MAIL FROM:<ceo@contoso.com>\r\n`), ctx);
    const text = r.body.toString('latin1');
    assert.doesNotMatch(
      text.replace(/\r\n/g, ''),
      /[\r\n]/,
      `no bare CR or LF left for ${JSON.stringify(eod)}`,
    );
    assert.match(text, /hello\r\n\.\r\n(\r\n)?MAIL FROM/, JSON.stringify(eod));
  }
});

test('Toshiba: From and Bcc inside the first MIME part; From moves up if missing, Bcc is dropped', () => {
  const toshiba = [
    'Subject: Scan',
    'To:<user@example.com>',
    'MIME-Version:1.0',
    'Content-Type:Multipart/mixed;boundary="TTEC3421"',
    '',
    '--TTEC3421',
    'Bcc: hidden@example.com',
    'From: copier@example.com',
    'Content-Type:text/plain;charset= ISO-8859-1',
    '',
    'U2Nhbm5lZA==',
    '--TTEC3421--',
    '',
  ].join('\n');
  const r = repairMessage(Buffer.from(toshiba), ctx);
  const text = r.body.toString();
  assert.ok(r.repairs.includes('line-endings'));
  assert.ok(r.repairs.includes('nested-bcc-removed'));
  assert.ok(r.repairs.includes('nested-from-hoisted'));
  assert.doesNotMatch(text, /hidden@example\.com/, 'the Bcc address is gone from the message');
  const [head, body] = text.split('\r\n\r\n');
  assert.match(head!, /^From: copier@example\.com$/m);
  assert.doesNotMatch(body!, /^From:/m);
  assert.match(body!, /^--TTEC3421\r\nContent-Type:text\/plain;charset= ISO-8859-1$/m);
  assert.match(text, /\r\n\r\nU2Nhbm5lZA==\r\n--TTEC3421--\r\n$/);
  // With a From on top already, the nested one is removed, not hoisted.
  const both = repairMessage(
    Buffer.from(toshiba.replace('Subject: Scan', 'From: Real <r@example.com>\nSubject: Scan')),
    ctx,
  );
  assert.ok(both.repairs.includes('nested-from-removed'));
  assert.match(both.body.toString(), /^From: Real <r@example\.com>\r\n/);
  assert.equal((both.body.toString().match(/^From:/gm) ?? []).length, 1);
});

test('8-bit header bytes pass through byte for byte', () => {
  const raw = Buffer.concat([
    Buffer.from(`${COMPLETE}Subject: `),
    Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65]),
    Buffer.from('\r\n\r\nx\r\n'),
  ]);
  assert.equal(repairMessage(raw, ctx).body, raw);
});
