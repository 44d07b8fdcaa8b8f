import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';

import { SMTPServer } from 'smtp-server';

import { replies, type SmtpError } from '../../src/smtp/replies.ts';
import { patchSmtpServerReplies } from '../../src/smtp/wire.ts';
import { RawSmtp } from '../helpers/smtp-client.ts';

/**
 * smtp-server derives enhanced codes from the numeric code (554 → 5.6.0). This pins, on a real
 * connection, that every catalogue entry goes out exactly as the catalogue says.
 */
test('every catalogue reply goes out on the wire with its own enhanced code and text', async (t) => {
  patchSmtpServerReplies();
  let next: SmtpError | null = null;
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    hideENHANCEDSTATUSCODES: false,
    disableReverseLookup: true,
    logger: false,
    onMailFrom: (_a, _s, cb) => cb(next ?? undefined),
  });
  const port = await new Promise<number>((r) =>
    server.listen(0, '127.0.0.1', () => r((server.server.address() as AddressInfo).port)),
  );
  t.after(() => new Promise<void>((r) => server.close(() => r())));

  for (const [name, factory] of Object.entries(replies)) {
    const reply = (factory as (...a: unknown[]) => SmtpError)('Q1', 7);
    if (reply.responseCode < 400) continue; // 250 is sent by the DATA path, pinned in smtp-inbound tests
    const c = await RawSmtp.connect(port);
    await c.reply();
    await c.command('EHLO t');
    next = reply;
    const line = await c.command('MAIL FROM:<a@b.c>');
    assert.equal(line, `${reply.responseCode} ${reply.enhanced} ${reply.text}`, name);
    c.close();
  }
});

test('reply text can never split the response: CR/LF in the text is flattened', () => {
  const r = replies.relayDenied('10.0.0.1\r\n250 fake');
  assert.doesNotMatch(r.message, /[\r\n]/);
});
