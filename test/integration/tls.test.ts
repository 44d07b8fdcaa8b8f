import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { connect } from 'node:tls';

import nodemailer from 'nodemailer';

import { makeTestPki } from '../helpers/pki.ts';
import { queuedId, startTestRelay, tempDir, untilMessage, waitFor } from '../helpers/relay.ts';
import { RawSmtp } from '../helpers/smtp-client.ts';
import { startUpstream } from '../helpers/upstream.ts';

const dir = tempDir('bh-tls-');
const pki = makeTestPki(dir);
test.after(() => rmSync(dir, { recursive: true, force: true }));

const HOLD = {
  routes: { default: { transport: { kind: 'smtp', host: '127.0.0.1', port: 9, security: 'none' } } },
};

test('a starttls listener offers STARTTLS; after it the session is TLS 1.2+ and Received says ESMTPS', async (t) => {
  const relay = await startTestRelay({
    ...HOLD,
    listeners: [{ host: '127.0.0.1', port: 0, mode: 'starttls', cert: pki.certFile, key: pki.keyFile }],
  });
  t.after(() => relay.cleanup());
  const raw = await RawSmtp.connect(relay.port);
  t.after(() => raw.close());
  await raw.reply();
  assert.match(await raw.command('EHLO d'), /250-STARTTLS/);
  const device = nodemailer.createTransport({
    host: '127.0.0.1',
    port: relay.port,
    requireTLS: true,
    tls: { ca: pki.ca, servername: 'localhost' },
  });
  t.after(() => device.close());
  const info = await device.sendMail({ from: 'a@example.com', to: 'b@example.net', subject: 's', text: 't' });
  const id = queuedId(info.response);
  const m = (await relay.store.get(id))!;
  assert.match(m.client.tls!, /^TLSv1\.[23]$/);
  assert.match(
    (await relay.store.readBody(id)).toString(),
    /with ESMTPS id .*\r\n\t\(using TLSv1\.[23] with cipher /,
  );
});

test('an implicit-tls listener speaks TLS from the first byte and refuses TLS 1.0', async (t) => {
  const relay = await startTestRelay({
    ...HOLD,
    listeners: [{ host: '127.0.0.1', port: 0, mode: 'implicit-tls', cert: pki.certFile, key: pki.keyFile }],
  });
  t.after(() => relay.cleanup());
  const device = nodemailer.createTransport({
    host: '127.0.0.1',
    port: relay.port,
    secure: true,
    tls: { ca: pki.ca, servername: 'localhost' },
  });
  t.after(() => device.close());
  const info = await device.sendMail({ from: 'a@example.com', to: 'b@example.net', text: 't' });
  assert.match(info.response, /^250 2\.0\.0 Ok: queued as/);
  const refused = await new Promise<string>((resolve) => {
    const s = connect({
      port: relay.port,
      host: '127.0.0.1',
      ca: pki.ca,
      servername: 'localhost',
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1',
    });
    s.once('secureConnect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err) => resolve(err.message));
  });
  assert.notEqual(refused, 'connected', 'TLS 1.0 must not be accepted on the modern listener');
});

test('smarthost with required STARTTLS: trusted through transport.ca, deferred as "tls" when the CA is unknown', async (t) => {
  const upstream = await startUpstream({
    server: { disabledCommands: ['AUTH'], key: pki.key, cert: pki.cert },
  });
  t.after(() => upstream.close());
  const trusted = await startTestRelay({
    routes: {
      default: {
        transport: {
          kind: 'smtp',
          host: 'localhost',
          port: upstream.port,
          security: 'starttls',
          ca: pki.caFile,
        },
      },
    },
  });
  t.after(() => trusted.cleanup());
  const device = nodemailer.createTransport({ host: '127.0.0.1', port: trusted.port, ignoreTLS: true });
  t.after(() => device.close());
  await device.sendMail({ from: 'a@example.com', to: 'b@example.net', text: 't' });
  await waitFor(() => upstream.received.length === 1, 'delivery over verified TLS');

  const untrusted = await startTestRelay({
    routes: {
      default: { transport: { kind: 'smtp', host: 'localhost', port: upstream.port, security: 'starttls' } },
    },
    delivery: { retrySchedule: '1h' },
  });
  t.after(() => untrusted.cleanup());
  const d2 = nodemailer.createTransport({ host: '127.0.0.1', port: untrusted.port, ignoreTLS: true });
  t.after(() => d2.close());
  const id = queuedId(
    (await d2.sendMail({ from: 'a@example.com', to: 'b@example.net', text: 't' })).response,
  );
  const m = await untilMessage(untrusted.store, id, (x) => x.attempts === 1, 'failed TLS attempt');
  assert.equal(m!.recipients[0]!.state, 'deferred');
  assert.equal(m!.history[0]!.category, 'tls');
  assert.equal(upstream.received.length, 1, 'nothing sent over an unverified connection');
});

test('a smarthost without STARTTLS is not used in plaintext when security is starttls', async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.close());
  const relay = await startTestRelay({
    routes: {
      default: { transport: { kind: 'smtp', host: '127.0.0.1', port: upstream.port, security: 'starttls' } },
    },
    delivery: { retrySchedule: '1h' },
  });
  t.after(() => relay.cleanup());
  const device = nodemailer.createTransport({ host: '127.0.0.1', port: relay.port, ignoreTLS: true });
  t.after(() => device.close());
  const id = queuedId(
    (await device.sendMail({ from: 'a@example.com', to: 'b@example.net', text: 't' })).response,
  );
  const m = await untilMessage(relay.store, id, (x) => x.attempts === 1, 'attempt');
  assert.equal(m!.recipients[0]!.state, 'deferred');
  assert.equal(upstream.received.length, 0);
});
