import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';

import nodemailer from 'nodemailer';

import { makeAppCertificate, makeClientCertificate, makeTestPki } from '../helpers/pki.ts';
import { queuedId, startTestRelay, tempDir, waitFor } from '../helpers/relay.ts';
import { RawSmtp } from '../helpers/smtp-client.ts';

const dir = tempDir('bh-tlsl-');
const pki = makeTestPki(dir);
const otherDir = join(dir, 'other');
mkdirSync(otherDir);
const otherPki = makeTestPki(otherDir);
test.after(() => rmSync(dir, { recursive: true, force: true }));

const HOLD = {
  routes: { default: { transport: { kind: 'smtp', host: '127.0.0.1', port: 9, security: 'none' } } },
};

function tlsConnect(port: number, options: ConnectionOptions = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', ca: pki.ca, servername: 'localhost', ...options });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends one message over an open session and returns the reply to its end of data. */
const sendOver = (c: RawSmtp) => c.transaction('mfp@contoso.com', ['a@contoso.com'], 'Subject: t\r\n');

test('legacy profile: a TLS 1.0 printer with old ciphers gets through; the modern profile refuses it', async (t) => {
  const oldPrinter = {
    minVersion: 'TLSv1',
    maxVersion: 'TLSv1',
    ciphers: 'ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0',
  } as const;
  const legacy = await startTestRelay({
    ...HOLD,
    listeners: [
      {
        host: '127.0.0.1',
        port: 0,
        mode: 'implicit-tls',
        tlsProfile: 'legacy',
        cert: pki.certFile,
        key: pki.keyFile,
      },
    ],
  });
  t.after(() => legacy.cleanup());
  const s = await tlsConnect(legacy.port, oldPrinter);
  assert.equal(s.getProtocol(), 'TLSv1');
  const c = RawSmtp.wrap(s);
  t.after(() => c.close());
  assert.match(await c.reply(), /^220 /);
  assert.match(await c.command('EHLO printer'), /^250/);
  const id = queuedId(await sendOver(c));
  assert.equal((await legacy.store.get(id))!.client.tls, 'TLSv1.0');
  assert.match(
    (await legacy.store.readBody(id)).toString(),
    /\(using TLSv1\.0 with cipher ECDHE-ECDSA-AES128-SHA\)/,
  );

  const modern = await startTestRelay({
    ...HOLD,
    listeners: [{ host: '127.0.0.1', port: 0, mode: 'implicit-tls', cert: pki.certFile, key: pki.keyFile }],
  });
  t.after(() => modern.cleanup());
  await assert.rejects(tlsConnect(modern.port, oldPrinter));
});

test('legacy profile with an RSA certificate: TLS 1.0 with RSA key exchange (AES128-SHA), as pre-ECDSA devices need', async (t) => {
  const rsaDir = join(dir, 'rsa');
  mkdirSync(rsaDir, { recursive: true });
  makeAppCertificate(rsaDir); // a self-signed RSA 2048 certificate: app.crt, app.key
  const relay = await startTestRelay({
    ...HOLD,
    listeners: [
      {
        host: '127.0.0.1',
        port: 0,
        mode: 'implicit-tls',
        tlsProfile: 'legacy',
        cert: join(rsaDir, 'app.crt'),
        key: join(rsaDir, 'app.key'),
      },
    ],
  });
  t.after(() => relay.cleanup());
  const s = await tlsConnect(relay.port, {
    rejectUnauthorized: false,
    minVersion: 'TLSv1',
    maxVersion: 'TLSv1',
    ciphers: 'AES128-SHA:@SECLEVEL=0',
  });
  const c = RawSmtp.wrap(s);
  t.after(() => c.close());
  assert.equal(s.getCipher().name, 'AES128-SHA');
  assert.match(await c.reply(), /^220 /);
  assert.match(await c.command('EHLO old-mfp'), /^250/);
  assert.match(await sendOver(c), /^250 2\.0\.0 Ok: queued as /);
});

test('mode auto: one port serves implicit TLS and plain/STARTTLS clients, told apart by their first byte', async (t) => {
  const relay = await startTestRelay({
    ...HOLD,
    listeners: [
      {
        host: '127.0.0.1',
        port: 0,
        mode: 'auto',
        cert: pki.certFile,
        key: pki.keyFile,
        tlsDetectWait: '200ms',
      },
    ],
  });
  t.after(() => relay.cleanup());
  const ids: string[] = [];
  for (const secure of [true, false]) {
    const device = nodemailer.createTransport({
      host: '127.0.0.1',
      port: relay.port,
      secure,
      requireTLS: !secure,
      tls: { ca: pki.ca, servername: 'localhost' },
    });
    t.after(() => device.close());
    ids.push(
      queuedId((await device.sendMail({ from: 'a@contoso.com', to: 'b@contoso.com', text: 'x' })).response),
    );
  }
  for (const id of ids) assert.match((await relay.store.get(id))!.client.tls!, /^TLSv1\.[23]$/);
  // A client that never starts TLS is greeted in plain text once the wait is over.
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  assert.match(await c.reply(), /^220 /);
  assert.match(await c.command('EHLO plain'), /250-STARTTLS/);
  const plainId = queuedId(await sendOver(c));
  assert.equal((await relay.store.get(plainId))!.client.tls, null);
});

test('certificate and key are reloaded when the files change, without a restart; a broken pair keeps the old one', async (t) => {
  const live = join(dir, 'live');
  mkdirSync(live, { recursive: true });
  copyFileSync(pki.certFile, join(live, 'cert.pem'));
  copyFileSync(pki.keyFile, join(live, 'key.pem'));
  const relay = await startTestRelay({
    ...HOLD,
    listeners: [
      {
        host: '127.0.0.1',
        port: 0,
        mode: 'implicit-tls',
        cert: join(live, 'cert.pem'),
        key: join(live, 'key.pem'),
      },
    ],
  });
  t.after(() => relay.cleanup());
  const fingerprint = async () => {
    const s = await tlsConnect(relay.port, { rejectUnauthorized: false });
    const fp = s.getPeerX509Certificate()!.fingerprint256;
    s.destroy();
    return fp;
  };
  const first = await fingerprint();
  assert.equal(first, new X509Certificate(pki.cert).fingerprint256);
  // A key that does not match the certificate: the old pair stays in use.
  copyFileSync(otherPki.keyFile, join(live, 'key.pem'));
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(await fingerprint(), first);
  // The renewed pair (as certbot leaves it) is picked up.
  copyFileSync(otherPki.certFile, join(live, 'cert.pem'));
  await waitFor(
    async () => (await fingerprint()) === new X509Certificate(otherPki.cert).fingerprint256,
    'new certificate served',
    10_000,
  );
});

test('client certificates: a certificate verified against clientCa matches a rule by name or fingerprint; others match nothing', async (t) => {
  const mfp = makeClientCertificate(dir, 'mfp1.lan');
  const stranger = makeClientCertificate(otherDir, 'mfp1.lan'); // same name, other CA
  const copier = makeClientCertificate(dir, 'copier.lan');
  const fp = createHash('sha256').update(new X509Certificate(copier.cert).raw).digest('hex');
  const relay = await startTestRelay({
    ...HOLD,
    listeners: [
      {
        host: '127.0.0.1',
        port: 0,
        mode: 'implicit-tls',
        cert: pki.certFile,
        key: pki.keyFile,
        clientCa: pki.caFile,
      },
    ],
    clients: [{ name: 'mfp', match: { certificates: ['mfp1.lan', `sha256:${fp}`] } }],
  });
  t.after(() => relay.cleanup());
  const attempt = async (cred: { cert: Buffer; key: Buffer } | null) => {
    const c = RawSmtp.wrap(await tlsConnect(relay.port, cred ?? {}));
    try {
      await c.reply();
      await c.command('EHLO mfp');
      return await c.command('MAIL FROM:<mfp@contoso.com>');
    } finally {
      c.close();
    }
  };
  assert.match(await attempt(mfp), /^250 /, 'by name');
  assert.match(await attempt(copier), /^250 /, 'by fingerprint');
  assert.match(await attempt(null), /^554 5\.7\.1 Relay access denied/);
  assert.match(await attempt(stranger), /^554 5\.7\.1 Relay access denied/);
});

test('requireTls: MAIL before STARTTLS gets 530 5.7.0; after STARTTLS it is accepted', async (t) => {
  const relay = await startTestRelay({
    ...HOLD,
    listeners: [
      {
        host: '127.0.0.1',
        port: 0,
        mode: 'starttls',
        cert: pki.certFile,
        key: pki.keyFile,
        requireTls: true,
      },
    ],
  });
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  await c.command('EHLO d');
  assert.equal(
    await c.command('MAIL FROM:<a@contoso.com>'),
    '530 5.7.0 Must issue a STARTTLS command first: this listener accepts mail over TLS only',
  );
  const device = nodemailer.createTransport({
    host: '127.0.0.1',
    port: relay.port,
    requireTLS: true,
    tls: { ca: pki.ca, servername: 'localhost' },
  });
  t.after(() => device.close());
  assert.match(
    (await device.sendMail({ from: 'a@contoso.com', to: 'b@contoso.com', text: 'x' })).response,
    /^250 /,
  );
});
