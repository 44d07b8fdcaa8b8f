import assert from 'node:assert/strict';
import { test } from 'node:test';

import nodemailer from 'nodemailer';

import { startTestRelay, waitFor } from '../helpers/relay.ts';
import { RawSmtp } from '../helpers/smtp-client.ts';

const HOLD = {
  routes: { default: { transport: { kind: 'smtp', host: '127.0.0.1', port: 9, security: 'none' } } },
};

/** Opens a session up to an accepted RCPT. */
async function inTransaction(port: number, rcpts = ['rcpt@example.net']): Promise<RawSmtp> {
  const c = await RawSmtp.connect(port);
  assert.match(await c.reply(), /^220 /);
  assert.match(await c.command('EHLO device.lan'), /^250/);
  assert.match(await c.command('MAIL FROM:<printer@example.com>'), /^250/);
  for (const r of rcpts) assert.match(await c.command(`RCPT TO:<${r}>`), /^250/);
  return c;
}

test('EHLO offers the extensions devices rely on, without STARTTLS on a plain listener', async (t) => {
  const relay = await startTestRelay({ limits: { maxMessageSize: '10MB' } });
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  assert.match(await c.reply(), /^220 relay\.test ESMTP Bridgehead relay ready$/);
  const ehlo = await c.command('EHLO device.lan');
  for (const ext of [
    'PIPELINING',
    '8BITMIME',
    'SMTPUTF8',
    'ENHANCEDSTATUSCODES',
    'DSN',
    `SIZE ${10 * 1024 * 1024}`,
  ]) {
    assert.ok(
      ehlo.split(/\r?\n/).some((l) => l.slice(4) === ext),
      `EHLO lacks ${ext}:\n${ehlo}`,
    );
  }
  assert.doesNotMatch(ehlo, /STARTTLS|AUTH/);
});

test('an accepted message gets "250 2.0.0 Ok: queued as <id>" and is in the store with its envelope and DSN parameters', async (t) => {
  const relay = await startTestRelay(HOLD);
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  await c.command('EHLO scanner.lan');
  assert.equal(await c.command('MAIL FROM:<scan@example.com> RET=HDRS ENVID=job42'), '250 2.1.0 Accepted');
  assert.match(
    await c.command('RCPT TO:<a@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@example.net'),
    /^250 2\.1\.5/,
  );
  assert.match(await c.command('RCPT TO:<b@example.net>'), /^250/);
  assert.match(await c.command('DATA'), /^354/);
  const reply = await c.command('Subject: scan\r\nMessage-ID: <scan-1@example.com>\r\n\r\nhello\r\n.');
  const m = /^250 2\.0\.0 Ok: queued as ([0-9A-Z]{22})$/.exec(reply);
  assert.ok(m, reply);
  const stored = await relay.store.get(m[1]!);
  assert.ok(stored);
  assert.equal(stored.mailFrom, 'scan@example.com');
  assert.deepEqual(stored.dsn, { ret: 'HDRS', envid: 'job42' });
  assert.equal(stored.messageIdHeader, '<scan-1@example.com>');
  assert.deepEqual(
    stored.recipients.map((r) => [r.address, r.notify, r.orcpt]),
    [
      ['a@example.net', ['SUCCESS', 'FAILURE'], 'rfc822;a@example.net'],
      ['b@example.net', null, null],
    ],
  );
  const body = (await relay.store.readBody(m[1]!)).toString();
  assert.match(
    body,
    /^Received: from scanner\.lan \(\[127\.0\.0\.1\]\)\r\n\tby relay\.test \(Bridgehead\) with ESMTP id /,
  );
  assert.match(body, /\r\nSubject: scan\r\n/);
});

test('SIZE= over the limit is refused at MAIL, and a body over it at DATA, both with 552 5.3.4', async (t) => {
  const relay = await startTestRelay({ ...HOLD, limits: { maxMessageSize: '1KB' } });
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  await c.command('EHLO d');
  assert.equal(
    await c.command('MAIL FROM:<a@example.com> SIZE=5000'),
    '552 5.3.4 Message too big: this relay accepts at most 1 KB (1024 bytes)',
  );
  assert.match(await c.command('MAIL FROM:<a@example.com>'), /^250/);
  await c.command('RCPT TO:<b@example.net>');
  await c.command('DATA');
  const reply = await c.command(`Subject: big\r\n\r\n${'x'.repeat(3000)}\r\n.`);
  assert.equal(reply, '552 5.3.4 Message too big: this relay accepts at most 1 KB (1024 bytes)');
  assert.equal((await relay.store.stats()).active, 0, 'nothing stored');
});

test('recipients over the limit get 452 4.5.3 and the first ones stay accepted', async (t) => {
  const relay = await startTestRelay({ ...HOLD, limits: { maxRecipients: 2 } });
  t.after(() => relay.cleanup());
  const c = await inTransaction(relay.port, ['a@x.net', 'b@x.net']);
  t.after(() => c.close());
  assert.equal(
    await c.command('RCPT TO:<c@x.net>'),
    '452 4.5.3 Too many recipients: at most 2 per message, send the rest in another message',
  );
  await c.command('DATA');
  assert.match(await c.command('Subject: x\r\n\r\ny\r\n.'), /^250 2\.0\.0/);
  const [m] = await relay.store.list();
  assert.deepEqual(
    m!.recipients.map((r) => r.address),
    ['a@x.net', 'b@x.net'],
  );
});

test('bad input gets its exact reply: malformed address, unknown command, out of order, long line', async (t) => {
  const relay = await startTestRelay(HOLD);
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  assert.equal(await c.command('MAIL FROM:<a@example.com>'), '503 5.5.1 Error: send HELO/EHLO first');
  await c.command('EHLO d');
  assert.equal(await c.command('RCPT TO:<b@example.net>'), '503 5.5.1 Error: need MAIL command');
  assert.equal(await c.command('DATA'), '503 5.5.1 Error: need RCPT command');
  assert.equal(await c.command('FROB nicate'), '500 5.5.2 Command not recognized');
  await c.command('MAIL FROM:<a@example.com>');
  assert.equal(await c.command('RCPT TO:<not an address>'), '501 5.1.3 Error: Bad recipient address syntax');
  assert.equal(
    await c.command(`NOOP ${'x'.repeat(5000)}`),
    '421 4.5.0 Command line too long, closing connection',
  );
  assert.ok(await c.waitClosed(), 'connection closed after 421');
});

test('a flood of connections from one address is cut at the per-IP limit with 421 4.7.0', async (t) => {
  const relay = await startTestRelay({ ...HOLD, limits: { maxConnectionsPerIp: 3 } });
  t.after(() => relay.cleanup());
  const open: RawSmtp[] = [];
  t.after(() => open.forEach((c) => c.close()));
  for (let i = 0; i < 3; i++) {
    const c = await RawSmtp.connect(relay.port);
    open.push(c);
    assert.match(await c.reply(), /^220 /);
  }
  const extra = await RawSmtp.connect(relay.port);
  open.push(extra);
  assert.equal(
    await extra.reply(),
    '421 4.7.0 Too many connections from 127.0.0.1 (limit 3), try again later',
  );
  assert.ok(await extra.waitClosed());
  // Another address of the loopback range is counted separately.
  const other = await RawSmtp.connect(relay.port, '127.0.0.1', '127.0.0.2');
  open.push(other);
  assert.match(await other.reply(), /^220 /);
  // Closing one frees a slot.
  open[0]!.close();
  await waitFor(async () => {
    const c = await RawSmtp.connect(relay.port);
    open.push(c);
    return (await c.reply()).startsWith('220');
  }, 'a free slot after a close');
});

test('the total connection limit answers 421 4.7.0 too', async (t) => {
  const relay = await startTestRelay({ ...HOLD, limits: { maxConnections: 2 } });
  t.after(() => relay.cleanup());
  const open = [await RawSmtp.connect(relay.port), await RawSmtp.connect(relay.port)];
  t.after(() => open.forEach((c) => c.close()));
  for (const c of open) await c.reply();
  const third = await RawSmtp.connect(relay.port, '127.0.0.1', '127.0.0.3');
  open.push(third);
  assert.equal(await third.reply(), '421 4.7.0 Too many connections to this relay, try again later');
});

test('clients no rule could admit are refused at connect with 554 5.7.1', async (t) => {
  const relay = await startTestRelay({
    ...HOLD,
    clients: [{ name: 'one', match: { addresses: ['127.0.0.1/32'] } }],
  });
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port, '127.0.0.1', '127.0.0.9');
  t.after(() => c.close());
  assert.equal(
    await c.reply(),
    '554 5.7.1 Relay access denied: 127.0.0.9 is not allowed to send mail through this relay',
  );
  assert.ok(await c.waitClosed());
});

test('a client that disconnects mid-DATA leaves nothing stored and nothing acknowledged', async (t) => {
  const relay = await startTestRelay(HOLD);
  t.after(() => relay.cleanup());
  const c = await inTransaction(relay.port);
  await c.command('DATA');
  c.write('Subject: half\r\n\r\nthe first half of a message');
  await new Promise((r) => setTimeout(r, 100));
  c.close();
  // A complete message on a new connection proves the relay is still healthy and orders after the aborted one.
  const ok = await inTransaction(relay.port);
  t.after(() => ok.close());
  await ok.command('DATA');
  assert.match(await ok.command('Subject: whole\r\n\r\nbody\r\n.'), /^250 /);
  const all = await relay.store.list();
  assert.equal(all.length, 1);
  assert.doesNotMatch((await relay.store.readBody(all[0]!.id)).toString(), /half/);
});

test('a session idle past limits.idleTimeout is closed with 421 4.4.2', async (t) => {
  const relay = await startTestRelay({ ...HOLD, limits: { idleTimeout: '300ms' } });
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  assert.equal(await c.reply(3000), '421 4.4.2 Idle timeout, closing connection');
  assert.ok(await c.waitClosed());
});

test('a body trickling in past limits.dataTimeout is cut with 421 4.4.2 and nothing is queued', async (t) => {
  const relay = await startTestRelay({ ...HOLD, limits: { dataTimeout: '400ms', idleTimeout: '10s' } });
  t.after(() => relay.cleanup());
  const c = await inTransaction(relay.port);
  t.after(() => c.close());
  await c.command('DATA');
  const trickle = setInterval(() => c.write('x'), 50);
  t.after(() => clearInterval(trickle));
  assert.match(
    await c.reply(3000),
    /^421 4\.4\.2 Message data not received within 400ms, closing connection; nothing was queued$/,
  );
  clearInterval(trickle);
  assert.ok(await c.waitClosed());
  assert.equal((await relay.store.stats()).active, 0);
});

test('a store write that fails answers 451 4.3.0, never 250', async (t) => {
  const relay = await startTestRelay(HOLD);
  t.after(() => relay.cleanup());
  const c = await inTransaction(relay.port);
  t.after(() => c.close());
  await c.command('DATA');
  // The database goes away under the relay (a real failure of the real store, not a stub).
  await relay.store.close();
  assert.equal(
    await c.command('Subject: x\r\n\r\ny\r\n.'),
    '451 4.3.0 Queue temporarily unavailable, message not accepted; try again later',
  );
});

test('a full spool answers 452 4.3.1 and keeps what it already had', async (t) => {
  const relay = await startTestRelay({ ...HOLD, store: { maxSize: '200KB' } });
  t.after(() => relay.cleanup());
  const c = await inTransaction(relay.port);
  t.after(() => c.close());
  await c.command('DATA');
  const reply = await c.command(`Subject: big\r\n\r\n${'x'.repeat(400 * 1024)}\r\n.`);
  assert.equal(reply, '452 4.3.1 Queue storage is full, message not accepted; try again later');
});

test('nodemailer as a device: a pipelined multi-recipient message is accepted once', async (t) => {
  const relay = await startTestRelay(HOLD);
  t.after(() => relay.cleanup());
  const device = nodemailer.createTransport({
    host: '127.0.0.1',
    port: relay.port,
    secure: false,
    ignoreTLS: true,
  });
  t.after(() => device.close());
  const info = await device.sendMail({
    from: 'mfp@example.com',
    to: ['one@example.net', 'two@example.net'],
    subject: 'Scan',
    text: 'attached',
  });
  assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
  const [m] = await relay.store.list();
  assert.equal(m!.recipients.length, 2);
});

test('with limits.greetingDelay set, a client that talks before the greeting is refused', async (t) => {
  const relay = await startTestRelay({ ...HOLD, limits: { greetingDelay: '500ms' } });
  t.after(() => relay.cleanup());
  const early = await RawSmtp.connect(relay.port);
  t.after(() => early.close());
  early.write('EHLO impatient\r\n');
  assert.match(await early.reply(3000), /^421 .*You talk too soon/);
  const polite = await RawSmtp.connect(relay.port);
  t.after(() => polite.close());
  assert.match(await polite.reply(3000), /^220 /);
});
