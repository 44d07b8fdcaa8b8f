import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fitsOneRequest, prepareGraphMime, sendMailPath } from '../../../src/delivery/graph-request.ts';

test('envelope recipients missing from the headers are added as Bcc; header-only recipients are dropped', () => {
  const raw = Buffer.from(
    'From: scanner@contoso.com\r\nTo: "Alice A." <alice@contoso.com>, stray@fabrikam.com\r\nSubject: s\r\n\r\nbody\r\n',
  );
  const out = prepareGraphMime(raw, ['alice@contoso.com', 'hidden@contoso.com']).toString();
  assert.match(out, /^To: "Alice A\." <alice@contoso\.com>\r\n/m);
  assert.doesNotMatch(out, /stray@fabrikam\.com/);
  assert.match(out, /^Bcc: hidden@contoso\.com\r\n/m);
  assert.ok(out.endsWith('\r\n\r\nbody\r\n'), 'the body is untouched');
  assert.match(out, /^Subject: s\r\n/m);
});

test('a message whose recipients are all in To and Cc gets no Bcc; a header with no kept address disappears', () => {
  const raw = Buffer.from('To: a@x.com\r\nCc: b@x.com,\r\n c@x.com\r\nBcc: old@x.com\r\n\r\nb');
  const out = prepareGraphMime(raw, ['a@x.com', 'c@x.com']).toString();
  assert.equal(out, 'To: a@x.com\r\nCc: c@x.com\r\n\r\nb');
});

test('size check accounts for base64 growth; the sendMail path encodes the mailbox', () => {
  assert.ok(fitsOneRequest(Buffer.alloc(2_900_000)));
  assert.ok(!fitsOneRequest(Buffer.alloc(3_200_000)));
  assert.equal(sendMailPath('scanner@contoso.com'), '/v1.0/users/scanner%40contoso.com/sendMail');
});
