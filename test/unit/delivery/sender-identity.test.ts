import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decideSender, type SenderSettings, sendingMailbox } from '../../../src/delivery/sender-identity.ts';

const base: SenderSettings = {
  mailbox: 'scanner@contoso.com',
  mode: 'fixed',
  map: {},
  sendAs: [],
  fromPolicy: 'rewrite',
};
const msg = (from: string, extra = '') =>
  Buffer.from(`From: ${from}\r\nTo: alice@contoso.com\r\n${extra}Subject: s\r\n\r\nbody\r\n`);

test('a device that sends as the mailbox goes through untouched', () => {
  const d = decideSender(base, 'scanner@contoso.com', msg('Scanner <scanner@contoso.com>'));
  assert.equal(d.rewritten, false);
  assert.equal(d.mailFrom, 'scanner@contoso.com');
});

test('rewrite: From becomes the mailbox with the display name kept, the original goes to Reply-To, envelope too', () => {
  const d = decideSender(base, 'mfp-3@contoso.com', msg('"MFP 3rd floor" <mfp-3@contoso.com>'));
  assert.equal(d.rewritten, true);
  assert.equal(d.mailFrom, 'scanner@contoso.com');
  const text = d.body.toString();
  assert.match(text, /^From: "MFP 3rd floor" <scanner@contoso\.com>\r\n/m);
  assert.match(text, /^Reply-To: mfp-3@contoso\.com\r\n\r\nbody/m);
  assert.ok(text.endsWith('\r\n\r\nbody\r\n'));
});

test('an existing Reply-To is kept; SendAs-granted addresses are not rewritten; pass and reject leave the bytes alone', () => {
  assert.doesNotMatch(
    decideSender(
      base,
      'x@contoso.com',
      msg('x@contoso.com', 'Reply-To: helpdesk@contoso.com\r\n'),
    ).body.toString(),
    /Reply-To: x@/,
  );
  assert.equal(
    decideSender(
      { ...base, sendAs: ['printers@contoso.com'] },
      'printers@contoso.com',
      msg('printers@contoso.com'),
    ).rewritten,
    false,
  );
  const raw = msg('x@contoso.com');
  assert.equal(decideSender({ ...base, fromPolicy: 'pass' }, 'x@contoso.com', raw).body, raw);
});

test('mailbox choice: fixed, the envelope sender, or a map by address then by @domain', () => {
  assert.equal(sendingMailbox(base, 'a@contoso.com'), 'scanner@contoso.com');
  assert.equal(sendingMailbox({ ...base, mode: 'envelope' }, 'hr-app@contoso.com'), 'hr-app@contoso.com');
  const map = {
    ...base,
    mode: 'map' as const,
    map: { 'erp@contoso.com': 'erp-mailbox@contoso.com', '@hr.contoso.com': 'hr@contoso.com' },
  };
  assert.equal(sendingMailbox(map, 'ERP@contoso.com'), 'erp-mailbox@contoso.com');
  assert.equal(sendingMailbox(map, 'payroll@hr.contoso.com'), 'hr@contoso.com');
  assert.equal(sendingMailbox(map, 'other@contoso.com'), 'scanner@contoso.com');
});
