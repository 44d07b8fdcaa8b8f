import assert from 'node:assert/strict';
import { test } from 'node:test';

import { V2_SIGNATURE } from '../../src/smtp/proxy-protocol.ts';
import { queuedId, startTestRelay } from '../helpers/relay.ts';
import { RawSmtp } from '../helpers/smtp-client.ts';

const HOLD = {
  routes: { default: { transport: { kind: 'smtp', host: '127.0.0.1', port: 9, security: 'none' } } },
};

/** Only devices in 10.1.0.0/16 may relay; the balancer is 127.0.0.1. */
function relayBehindBalancer() {
  return startTestRelay({
    ...HOLD,
    listeners: [{ host: '127.0.0.1', port: 0, proxyFrom: ['127.0.0.1'] }],
    clients: [{ name: 'devices', match: { addresses: ['10.1.0.0/16'] } }],
  });
}

function v2Header(src: number[], sport: number, command = 1): Buffer {
  const addr = Buffer.alloc(12);
  Buffer.from(src).copy(addr, 0);
  Buffer.from([192, 0, 2, 10]).copy(addr, 4);
  addr.writeUInt16BE(sport, 8);
  addr.writeUInt16BE(25, 10);
  return Buffer.concat([
    V2_SIGNATURE,
    Buffer.from([0x20 | command, command ? 0x11 : 0x00, 0, command ? 12 : 0]),
    command ? addr : Buffer.alloc(0),
  ]);
}

async function relayOneMessage(c: RawSmtp): Promise<string> {
  assert.match(await c.reply(), /^220 /);
  assert.match(await c.command('EHLO mfp'), /^250/);
  return queuedId(await c.transaction('mfp@contoso.com', ['a@contoso.com'], 'Subject: t\r\n'));
}

test('PROXY v1 and v2 from the configured balancer: the client address is the proxied one', async (t) => {
  const relay = await relayBehindBalancer();
  t.after(() => relay.cleanup());
  const v1 = await RawSmtp.connect(relay.port);
  t.after(() => v1.close());
  // The header and the first bytes may arrive together; the session starts after the header.
  v1.write('PROXY TCP4 10.1.2.3 192.0.2.10 51000 25\r\n');
  const id1 = await relayOneMessage(v1);
  assert.equal((await relay.store.get(id1))!.client.ip, '10.1.2.3');
  assert.match((await relay.store.readBody(id1)).toString(), /^Received: from mfp \(\[10\.1\.2\.3\]\)/);

  const v2 = await RawSmtp.connect(relay.port);
  t.after(() => v2.close());
  v2.write(v2Header([10, 1, 9, 9], 40000));
  const id2 = await relayOneMessage(v2);
  assert.equal((await relay.store.get(id2))!.client.ip, '10.1.9.9');
});

test('a v2 LOCAL header (health check) keeps the balancer address, which no rule admits', async (t) => {
  const relay = await relayBehindBalancer();
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  c.write(v2Header([0, 0, 0, 0], 0, 0));
  assert.equal(
    await c.reply(),
    '554 5.7.1 Relay access denied: 127.0.0.1 is not allowed to send mail through this relay',
  );
});

test('the balancer must send the header: a connection from it that starts with SMTP is dropped unanswered', async (t) => {
  const relay = await relayBehindBalancer();
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  c.write('EHLO sneaky\r\n');
  assert.equal(await c.reply(), '<closed>');
});

test('a PROXY header from anyone else is not believed: it cannot borrow an allowed address', async (t) => {
  const relay = await startTestRelay({
    ...HOLD,
    listeners: [{ host: '127.0.0.1', port: 0, proxyFrom: ['127.0.0.9'] }],
    clients: [{ name: 'devices', match: { addresses: ['10.1.0.0/16', '127.0.0.2'] } }],
  });
  t.after(() => relay.cleanup());
  // 127.0.0.1 is neither the balancer nor a device: refused before it can say anything.
  const outsider = await RawSmtp.connect(relay.port);
  t.after(() => outsider.close());
  outsider.write('PROXY TCP4 10.1.2.3 192.0.2.10 51000 25\r\n');
  assert.match(await outsider.reply(), /^554 5\.7\.1 Relay access denied: 127\.0\.0\.1 /);
  // 127.0.0.2 is an allowed device: its PROXY line is just an unknown command.
  const device = await RawSmtp.connect(relay.port, '127.0.0.1', '127.0.0.2');
  t.after(() => device.close());
  assert.match(await device.reply(), /^220 /);
  assert.equal(
    await device.command('PROXY TCP4 10.9.9.9 192.0.2.10 1 25'),
    '500 5.5.2 Command not recognized',
  );
  assert.match(await device.command('EHLO mfp'), /^250/);
  const id = queuedId(await device.transaction('mfp@contoso.com', ['a@contoso.com'], 'Subject: t\r\n'));
  assert.equal((await relay.store.get(id))!.client.ip, '127.0.0.2');
});
