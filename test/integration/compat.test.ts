import assert from 'node:assert/strict';
import { test } from 'node:test';

import { hashPassword } from '../../src/auth/password.ts';
import { queuedId, startTestRelay, waitFor } from '../helpers/relay.ts';
import { RawSmtp } from '../helpers/smtp-client.ts';
import { startUpstream } from '../helpers/upstream.ts';

/**
 * The legacy-device compatibility kit: each quirk real devices show (relay-survey §5), sent
 * as the exact bytes such a device sends, with the exact replies pinned.
 */
const HOLD = {
  routes: { default: { transport: { kind: 'smtp', host: '127.0.0.1', port: 9, security: 'none' } } },
};
const users = { scan01: await hashPassword('pr1nter!', 12) };
const b64 = (s: string) => Buffer.from(s).toString('base64');

async function plainAuthRelay() {
  return startTestRelay({
    ...HOLD,
    users,
    listeners: [{ name: 'lan', host: '127.0.0.1', port: 0, allowPlainAuth: true }],
    clients: [{ name: 'scanners', match: { users: ['scan01'] } }],
  });
}

test('lower-case commands, as some firmware sends them', async (t) => {
  const relay = await startTestRelay(HOLD);
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  assert.match(await c.command('ehlo printer'), /^250-relay\.test /);
  assert.equal(await c.command('mail from:<mfp@contoso.com>'), '250 2.1.0 Accepted');
  assert.equal(await c.command('rcpt to:<a@contoso.com>'), '250 2.1.5 Accepted');
  assert.equal(await c.command('data'), '354 End data with <CR><LF>.<CR><LF>');
  assert.match(await c.command('Subject: lower\r\n\r\nx\r\n.'), /^250 2\.0\.0 Ok: queued as /);
  assert.equal(await c.command('quit'), '221 2.0.0 Bye');
});

test('AUTH LOGIN: the Username:/Password: prompts (what Xerox firmware waits for), lower case, and the username on the first line', async (t) => {
  const relay = await plainAuthRelay();
  t.after(() => relay.cleanup());
  for (const variant of ['two-step', 'lower-case', 'inline']) {
    const c = await RawSmtp.connect(relay.port);
    t.after(() => c.close());
    await c.reply();
    await c.command('EHLO xerox');
    if (variant === 'inline') {
      c.write(`AUTH LOGIN ${b64('scan01')}\r\n`);
    } else {
      c.write(variant === 'lower-case' ? 'auth login\r\n' : 'AUTH LOGIN\r\n');
      assert.equal(await c.rawLine(), '334 VXNlcm5hbWU6', 'base64 of "Username:"');
      c.write(`${b64('scan01')}\r\n`);
    }
    assert.equal(await c.rawLine(), '334 UGFzc3dvcmQ6', 'base64 of "Password:"');
    assert.equal(await c.command(b64('pr1nter!')), '235 2.7.0 Authentication successful', variant);
    assert.match(await c.command('MAIL FROM:<scan@contoso.com>'), /^250 /);
  }
});

test('AUTH PLAIN in two steps gets the empty "334 " challenge, with its space', async (t) => {
  const relay = await plainAuthRelay();
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  await c.command('EHLO mfp');
  c.write('AUTH PLAIN\r\n');
  assert.equal(await c.rawLine(), '334 ');
  assert.equal(await c.command(b64('\0scan01\0pr1nter!')), '235 2.7.0 Authentication successful');
});

test('a device that writes bare LF throughout (commands, body and the final ".\\n") is served; the message is stored with CRLF', async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.close());
  const relay = await startTestRelay({
    routes: {
      default: { transport: { kind: 'smtp', host: '127.0.0.1', port: upstream.port, security: 'none' } },
    },
  });
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  c.write('EHLO embedded\n');
  assert.match(await c.reply(), /^250/);
  c.write('MAIL FROM:<sensor@contoso.com>\nRCPT TO:<ops@contoso.com>\nDATA\n');
  assert.match(await c.reply(), /^250 /);
  assert.match(await c.reply(), /^250 /);
  assert.match(await c.reply(), /^354 /);
  c.write('From: sensor@contoso.com\nSubject: Temp high\n\nline one\n..dot line\nline three\n.\n');
  const id = queuedId(await c.reply());
  c.write('QUIT\n');
  assert.equal(await c.reply(), '221 2.0.0 Bye');
  const stored = (await relay.store.readBody(id)).toString();
  assert.match(stored, /\r\nFrom: sensor@contoso\.com\r\nSubject: Temp high\r\n/);
  assert.match(stored, /\r\n\r\nline one\r\n\.dot line\r\nline three\r\n$/);
  await waitFor(() => upstream.received.length === 1, 'delivered upstream');
  assert.match(upstream.received[0]!.body.toString(), /\r\n\r\nline one\r\n\.dot line\r\nline three\r\n$/);
});

test('8-bit header bytes are kept byte for byte; missing Date, Message-ID and From are added', async (t) => {
  const relay = await startTestRelay(HOLD);
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  await c.command('EHLO mfp');
  await c.command('MAIL FROM:<mfp@contoso.com>');
  await c.command('RCPT TO:<a@contoso.com>');
  await c.command('DATA');
  c.write(
    Buffer.concat([
      Buffer.from('Subject: Gr'),
      Buffer.from([0xfc, 0xdf, 0x65]),
      Buffer.from(' vom Drucker\r\n\r\nx\r\n.\r\n'),
    ]),
  );
  const id = queuedId(await c.reply());
  const body = await relay.store.readBody(id);
  assert.ok(body.includes(Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65, 0x20])), 'raw 8-bit subject kept');
  const text = body.toString('latin1');
  assert.match(text, /^From: <mfp@contoso\.com>\r$/m);
  assert.match(text, /^Date: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r$/m);
  assert.match(text, new RegExp(`^Message-ID: <${id}@relay\\.test>\\r$`, 'm'));
  assert.equal((await relay.store.get(id))!.messageIdHeader, `<${id}@relay.test>`);
});

test('Toshiba MFP: From and Bcc inside the first MIME part are fixed before the message is stored', async (t) => {
  const relay = await startTestRelay(HOLD);
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  await c.command('EHLO toshiba');
  await c.command('MAIL FROM:<copier@contoso.com>');
  await c.command('RCPT TO:<user@contoso.com>');
  await c.command('RCPT TO:<hidden@contoso.com>');
  await c.command('DATA');
  const msg = [
    'Date: Wed, 3 Sep 2025 11:41:35 -0600',
    'Subject:=?ISO-8859-1?B?U2VuZCBkYQ==?=',
    'To:<user@contoso.com>',
    'Message-ID:<TTECe25838f3@hostname>',
    'MIME-Version:1.0',
    'Content-Type:Multipart/mixed;boundary="TTEC3421323a"',
    'X-Mailer:Uacett 4.0',
    '',
    '--TTEC3421323a',
    'Bcc: hidden@contoso.com',
    'From: copier@contoso.com',
    'Content-Type:text/plain;charset= ISO-8859-1',
    'Content-Transfer-Encoding: base64',
    '',
    'U2Nhbm5lZA==',
    '--TTEC3421323a--',
    '.',
  ].join('\r\n');
  const id = queuedId(await c.command(msg));
  const text = (await relay.store.readBody(id)).toString();
  const [head, body] = [text.slice(0, text.indexOf('\r\n\r\n')), text.slice(text.indexOf('\r\n\r\n'))];
  assert.match(head, /^From: copier@contoso\.com$/m);
  assert.doesNotMatch(text, /hidden@contoso\.com/);
  assert.doesNotMatch(body, /^(From|Bcc):/m);
  assert.deepEqual(
    (await relay.store.get(id))!.recipients.map((r) => r.address),
    ['user@contoso.com', 'hidden@contoso.com'],
  );
});

test('Canon: a folded From header with a display name is read whole (sender rules see the address)', async (t) => {
  const relay = await startTestRelay({
    ...HOLD,
    clients: [{ name: 'lan', senders: ['noreply@contoso.com'] }],
  });
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  await c.command('EHLO canon');
  await c.command('MAIL FROM:<noreply@contoso.com>');
  await c.command('RCPT TO:<a@contoso.com>');
  await c.command('DATA');
  assert.match(
    await c.command('From: "UNIT NAME" \r\n    <noreply@contoso.com>\r\nSubject: s\r\n\r\nx\r\n.'),
    /^250 /,
  );
});

test('a message typed into telnet without any header gets a header block', async (t) => {
  const relay = await startTestRelay(HOLD);
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  await c.command('HELO test.example.com');
  await c.command('MAIL From: <test@contoso.com>');
  await c.command('RCPT To: <test@contoso.com>');
  await c.command('DATA');
  const id = queuedId(await c.command('This is a test email sent via Telnet.\r\n.'));
  const text = (await relay.store.readBody(id)).toString();
  assert.match(
    text,
    /\r\nFrom: <test@contoso\.com>\r\nDate: .*\r\nMessage-ID: <.*>\r\n\r\nThis is a test email sent via Telnet\.\r\n$/,
  );
});
