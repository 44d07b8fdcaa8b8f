import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';

import nodemailer from 'nodemailer';

import { hashPassword } from '../../src/auth/password.ts';
import { makeTestPki } from '../helpers/pki.ts';
import { queuedId, startTestRelay, tempDir } from '../helpers/relay.ts';
import { RawSmtp } from '../helpers/smtp-client.ts';

const dir = tempDir('bh-clients-');
const pki = makeTestPki(dir);
test.after(() => rmSync(dir, { recursive: true, force: true }));

const HOLD = {
  routes: {
    default: { transport: { kind: 'smtp', host: '127.0.0.1', port: 9, security: 'none' } },
    printers: { transport: { kind: 'smtp', host: '127.0.0.1', port: 9, security: 'none' } },
  },
};
const users = { scan01: await hashPassword('pr1nter!', 12), hr: await hashPassword('hr-secret', 12) };
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A plain listener with plaintext AUTH allowed, so the exact bytes can be pinned without TLS. */
function lanRelay(clients: unknown[], extra: Record<string, unknown> = {}) {
  return startTestRelay({
    ...HOLD,
    users,
    listeners: [{ name: 'lan', host: '127.0.0.1', port: 0, allowPlainAuth: true }],
    clients,
    ...extra,
  });
}

async function session(port: number): Promise<RawSmtp> {
  const c = await RawSmtp.connect(port);
  assert.match(await c.reply(), /^220 /);
  assert.match(await c.command('EHLO mfp.lan'), /^250/);
  return c;
}

test('AUTH is not offered or accepted before STARTTLS; after it PLAIN and LOGIN work with short user names', async (t) => {
  const relay = await startTestRelay({
    ...HOLD,
    users,
    listeners: [{ host: '127.0.0.1', port: 0, mode: 'starttls', cert: pki.certFile, key: pki.keyFile }],
    clients: [{ name: 'scanners', match: { users: ['scan01'] } }],
  });
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  const ehlo = await c.command('EHLO mfp.lan');
  assert.doesNotMatch(ehlo, /AUTH/);
  assert.match(ehlo, /STARTTLS/);
  assert.equal(
    await c.command(`AUTH PLAIN ${b64('\0scan01\0pr1nter!')}`),
    '538 5.7.11 Encryption required for AUTH: issue STARTTLS first, then log in',
  );
  for (const method of ['PLAIN', 'LOGIN']) {
    const device = nodemailer.createTransport({
      host: '127.0.0.1',
      port: relay.port,
      requireTLS: true,
      tls: { ca: pki.ca, servername: 'localhost' },
      auth: { user: 'scan01', pass: 'pr1nter!' },
      authMethod: method,
    });
    t.after(() => device.close());
    const info = await device.sendMail({ from: 'scan@contoso.com', to: 'a@contoso.com', text: method });
    const m = (await relay.store.get(queuedId(info.response)))!;
    assert.equal(m.client.user, 'scan01');
    assert.equal(m.client.rule, 'scanners');
    assert.match((await relay.store.readBody(m.id)).toString(), / with ESMTPSA id /);
  }
});

test('no matching rule: 530 5.7.0 where logging in would help, 554 5.7.1 where it would not', async (t) => {
  const relay = await lanRelay([{ name: 'scanners', match: { users: ['scan01'] } }]);
  t.after(() => relay.cleanup());
  const c = await session(relay.port);
  t.after(() => c.close());
  assert.equal(
    await c.command('MAIL FROM:<scan@contoso.com>'),
    '530 5.7.0 Authentication required: log in with AUTH (over TLS) before sending through this relay',
  );
  assert.match(await c.command(`AUTH PLAIN ${b64('\0hr\0hr-secret')}`), /^235 /);
  assert.equal(
    await c.command('MAIL FROM:<scan@contoso.com>'),
    '554 5.7.1 Relay access denied: 127.0.0.1 (user hr) is not allowed to send mail through this relay',
  );
});

test('wrong passwords get 535 5.7.8; maxFailures lock the address out with 421 4.7.0, at AUTH and at connect', async (t) => {
  const relay = await lanRelay([{ name: 'scanners', match: { users: ['scan01'] } }], {
    auth: { maxFailures: 3, failureWindow: '1m', lockout: '1m' },
  });
  t.after(() => relay.cleanup());
  const c = await session(relay.port);
  t.after(() => c.close());
  assert.equal(
    await c.command(`AUTH PLAIN ${b64('\0scan01\0wrong')}`),
    '535 5.7.8 Authentication credentials invalid',
  );
  assert.equal(
    await c.command(`AUTH PLAIN ${b64('\0nobody\0x')}`),
    '535 5.7.8 Authentication credentials invalid',
  );
  assert.match(
    await c.command(`AUTH PLAIN ${b64('\0scan01\0again')}`),
    /^421 4\.7\.0 Too many failed logins from 127\.0\.0\.1: locked out until \d\d:\d\d:\d\d UTC$/,
  );
  assert.ok(await c.waitClosed(), '421 closes the session');
  const d = await RawSmtp.connect(relay.port);
  t.after(() => d.close());
  assert.match(await d.reply(), /^421 4\.7\.0 Too many failed logins from 127\.0\.0\.1/);
});

test('senders: the envelope sender at MAIL and the From header after DATA must be allowed by the rule', async (t) => {
  const relay = await lanRelay([
    { name: 'scanners', match: { users: ['scan01'] }, senders: ['$user@contoso.com', '@scans.contoso.com'] },
  ]);
  t.after(() => relay.cleanup());
  const c = await session(relay.port);
  t.after(() => c.close());
  assert.match(await c.command(`AUTH LOGIN ${b64('scan01')}`), /^334 UGFzc3dvcmQ6$/);
  assert.match(await c.command(b64('pr1nter!')), /^235 2\.7\.0 /);
  assert.equal(
    await c.command('MAIL FROM:<ceo@contoso.com>'),
    '550 5.7.1 ceo@contoso.com is not an allowed sender for this client (rule scanners)',
  );
  assert.match(await c.command('MAIL FROM:<scan01@contoso.com>'), /^250 /);
  assert.match(await c.command('RCPT TO:<a@contoso.com>'), /^250 /);
  assert.match(await c.command('DATA'), /^354 /);
  assert.equal(
    await c.command('From: CEO <ceo@contoso.com>\r\nSubject: pay this\r\n\r\nx\r\n.'),
    '550 5.7.1 From: ceo@contoso.com is not an allowed sender for this client (rule scanners); nothing was queued',
  );
  assert.match(await c.command('MAIL FROM:<x@scans.contoso.com>'), /^250 /);
  assert.match(await c.command('RCPT TO:<a@contoso.com>'), /^250 /);
  assert.match(await c.command('DATA'), /^354 /);
  assert.match(
    await c.command('From: Scanner <x@scans.contoso.com>\r\n\r\nx\r\n.'),
    /^250 2\.0\.0 Ok: queued as /,
  );
  assert.equal((await relay.store.list({})).length, 1, 'only the allowed message was queued');
});

test('recipients internal, per-client size, rate and daily recipient quota', async (t) => {
  const relay = await lanRelay(
    [
      {
        name: 'mfp',
        match: { addresses: ['127.0.0.0/8'] },
        recipients: 'internal',
        maxSize: '1KB',
        rate: 2,
        dailyRecipients: 3,
        route: 'printers',
        mailbox: 'scanner@contoso.com',
      },
    ],
    { relay: { internalDomains: ['contoso.com'] } },
  );
  t.after(() => relay.cleanup());
  const c = await session(relay.port);
  t.after(() => c.close());
  assert.equal(
    await c.command('MAIL FROM:<mfp@contoso.com> SIZE=5000'),
    '552 5.3.4 Message too big: this relay accepts at most 1 KB (1024 bytes)',
  );
  assert.match(await c.command('MAIL FROM:<mfp@contoso.com>'), /^250 /);
  assert.equal(
    await c.command('RCPT TO:<friend@gmail.com>'),
    '550 5.7.1 friend@gmail.com is outside the recipient domains this client may reach (rule mfp)',
  );
  assert.match(await c.command('RCPT TO:<a@contoso.com>'), /^250 /);
  assert.match(await c.command('RCPT TO:<b@contoso.com>'), /^250 /);
  assert.match(await c.command('DATA'), /^354 /);
  assert.match(await c.command(`Subject: big\r\n\r\n${'x'.repeat(2000)}\r\n.`), /^552 5\.3\.4 /);
  // A message that fits: counted against the rate and the daily recipients.
  for (const rcpt of ['a', 'b']) {
    assert.match(await c.command('MAIL FROM:<mfp@contoso.com>'), /^250 /);
    assert.match(await c.command(`RCPT TO:<${rcpt}@contoso.com>`), /^250 /);
    assert.match(await c.command('DATA'), /^354 /);
    assert.match(await c.command('Subject: ok\r\n\r\nsmall\r\n.'), /^250 /);
  }
  assert.equal(
    await c.command('MAIL FROM:<mfp@contoso.com>'),
    '450 4.7.1 Rate limit: this client may send 2 messages a minute; try again shortly',
  );
  const [m] = await relay.store.list({});
  assert.equal(m!.route, 'printers');
  assert.equal(m!.client.mailbox, 'scanner@contoso.com');
});

test('the daily recipient quota answers 452 4.5.3 with the reset time', async (t) => {
  const relay = await lanRelay([{ name: 'erp', dailyRecipients: 2 }]);
  t.after(() => relay.cleanup());
  const c = await session(relay.port);
  t.after(() => c.close());
  assert.match(await c.command('MAIL FROM:<erp@contoso.com>'), /^250 /);
  assert.match(await c.command('RCPT TO:<a@contoso.com>'), /^250 /);
  assert.match(await c.command('RCPT TO:<b@contoso.com>'), /^250 /);
  assert.match(
    await c.command('RCPT TO:<c@contoso.com>'),
    /^452 4\.5\.3 Daily recipient quota of 2 reached for this client; it resets at \d{4}-\d\d-\d\d 00:00 UTC$/,
  );
});
