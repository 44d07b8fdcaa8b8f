import assert from 'node:assert/strict';
import { test } from 'node:test';

import { buildDsn, statusOf } from '../../src/dsn/report.ts';

const base = {
  reportingMta: 'relay.test',
  queueId: 'Q1',
  originalSender: 'mfp@contoso.com',
  envid: 'E+2B1',
  ret: null,
  arrivalDate: Date.UTC(2026, 10, 22, 9, 0, 0),
  original: Buffer.from('Subject: scan\r\nFrom: mfp@contoso.com\r\n\r\nthe body\r\n'),
  maxReturnBytes: 1024,
  now: Date.UTC(2026, 10, 22, 10, 0, 0),
};
const failed = {
  address: 'x@fabrikam.com',
  orcpt: 'rfc822;x+2Bspecial@fabrikam.com',
  action: 'failed' as const,
  reply: '550 5.1.1 User unknown',
  remoteMta: 'smtp.office365.com:587',
  lastAttemptAt: Date.UTC(2026, 10, 22, 9, 59, 0),
};

test('statusOf takes the enhanced code from the reply, else the class of the code, else the action', () => {
  assert.equal(statusOf('550 5.1.1 User unknown', 'failed'), '5.1.1');
  assert.equal(statusOf('4.4.7 Message expired: not delivered within 5d', 'failed'), '4.4.7');
  assert.equal(statusOf('554 Transaction failed', 'failed'), '5.0.0');
  assert.equal(statusOf('451 try later', 'delayed'), '4.0.0');
  assert.equal(statusOf('ECONNREFUSED', 'delayed'), '4.0.0');
  assert.equal(statusOf('connection reset', 'failed'), '5.0.0');
});

test('a failure report: multipart/report with the RFC 3464 fields, xtext decoded, headers returned by default', () => {
  const text = buildDsn({ ...base, recipients: [failed] }).toString('latin1');
  assert.match(
    text,
    /^Content-Type: multipart\/report; report-type=delivery-status; boundary="=_bh_[0-9a-f]{24}"\r$/m,
  );
  assert.match(text, /^Auto-Submitted: auto-replied\r$/m);
  assert.match(text, /^To: <mfp@contoso\.com>\r$/m);
  assert.match(text, /^Subject: Undelivered Mail Returned to Sender\r$/m);
  assert.match(
    text,
    /Content-Type: message\/delivery-status\r\n[^]*?\r\n\r\nReporting-MTA: dns; relay\.test\r\nX-Bridgehead-Queue-ID: Q1\r\nOriginal-Envelope-Id: E\+1\r\nArrival-Date: Sun, 22 Nov 2026 09:00:00 \+0000\r\n\r\nOriginal-Recipient: rfc822; x\+special@fabrikam\.com\r\nFinal-Recipient: rfc822; x@fabrikam\.com\r\nAction: failed\r\nStatus: 5\.1\.1\r\nRemote-MTA: dns; smtp\.office365\.com:587\r\nDiagnostic-Code: smtp; 550 5\.1\.1 User unknown\r\nLast-Attempt-Date: Sun, 22 Nov 2026 09:59:00 \+0000\r\n/,
  );
  assert.match(
    text,
    /Content-Type: text\/rfc822-headers[^]*\r\n\r\nSubject: scan\r\nFrom: mfp@contoso\.com\r\n--=_bh_/,
  );
  assert.doesNotMatch(text, /the body/);
  assert.match(text, /--=_bh_[0-9a-f]{24}--\r\n$/);
});

test('RET=FULL returns the whole message up to the size limit, headers above it; a delay report says so', () => {
  const full = buildDsn({ ...base, ret: 'FULL', recipients: [failed] }).toString();
  assert.match(full, /Content-Type: message\/rfc822[^]*the body/);
  const big = buildDsn({ ...base, ret: 'FULL', maxReturnBytes: 10, recipients: [failed] }).toString();
  assert.match(big, /Content-Type: text\/rfc822-headers/);
  assert.doesNotMatch(big, /the body/);
  const delayed = buildDsn({
    ...base,
    recipients: [{ ...failed, action: 'delayed', reply: '451 4.7.1 Greylisted' }],
  }).toString();
  assert.match(delayed, /^Subject: Delayed Mail \(still being retried\)\r$/m);
  assert.match(delayed, /^Action: delayed\r\nStatus: 4\.7\.1\r$/m);
  // A reply with CR/LF cannot inject fields into the report.
  const injected = buildDsn({
    ...base,
    recipients: [{ ...failed, reply: '550 5.1.1 no\r\nAction: delivered' }],
  }).toString();
  assert.doesNotMatch(injected, /^Action: delivered/m);
});
