import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import nodemailer, { type SendMailOptions } from 'nodemailer';

import { queuedId, startTestRelay, tempDir, untilMessage, waitFor } from '../helpers/relay.ts';
import { startUpstream } from '../helpers/upstream.ts';

function smtpRoute(port: number, extra: Record<string, unknown> = {}) {
  return {
    routes: {
      default: {
        concurrency: 4,
        transport: { kind: 'smtp', host: '127.0.0.1', port, security: 'none', ...extra },
      },
    },
  };
}

async function send(port: number, mail: SendMailOptions) {
  const device = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  try {
    return await device.sendMail(mail);
  } finally {
    device.close();
  }
}

test('device → relay → upstream: the envelope from the spool and the bytes as received', async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.close());
  const relay = await startTestRelay(smtpRoute(upstream.port));
  t.after(() => relay.cleanup());
  const raw =
    'From: Printer <mfp@example.com>\r\nTo: boss@example.net\r\nSubject: Scan\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <scan-7@example.com>\r\n\r\nPDF attached\r\n';
  const info = await send(relay.port, {
    envelope: { from: 'bounces@example.com', to: ['boss@example.net', 'hidden@example.net'] },
    raw,
    dsn: { ret: 'HDRS', envid: 'env-1', notify: ['FAILURE'] },
  });
  const id = queuedId(info.response);
  await waitFor(() => upstream.received.length === 1, 'delivery upstream');
  const got = upstream.received[0]!;
  assert.equal(got.from, 'bounces@example.com');
  assert.deepEqual(got.to.sort(), ['boss@example.net', 'hidden@example.net']);
  assert.equal(got.mailArgs.RET, 'HDRS');
  assert.equal(got.mailArgs.ENVID, 'env-1');
  const body = got.body.toString('latin1');
  assert.ok(body.startsWith('Received: from '), 'our Received header leads');
  assert.ok(body.endsWith(raw), 'the original bytes follow unchanged');
  const done = await untilMessage(relay.store, id, (x) => x.state === 'done', 'message done');
  assert.deepEqual(
    done.recipients.map((r) => r.state),
    ['delivered', 'delivered'],
  );
  assert.match(done.recipients[0]!.lastReply!, /^250 .*OK upstream accepted/);
  assert.equal(done.history.length, 2);
  await assert.rejects(relay.store.readBody(id), /no body/, 'body removed once every recipient is final');
});

test('partial recipient failure: one delivered, one failed for good (5xx), one deferred (4xx) and retried', async (t) => {
  let greylist = true;
  const upstream = await startUpstream({
    rcptReply: (a) =>
      a.startsWith('gone')
        ? '550 5.1.1 User unknown'
        : a.startsWith('grey') && greylist
          ? '451 4.7.1 Greylisted, try later'
          : null,
  });
  t.after(() => upstream.close());
  const relay = await startTestRelay({ ...smtpRoute(upstream.port), delivery: { retrySchedule: '300ms' } });
  t.after(() => relay.cleanup());
  const info = await send(relay.port, {
    from: 'app@example.com',
    to: ['ok@example.net', 'gone@example.net', 'grey@example.net'],
    subject: 'x',
    text: 'y',
  });
  const id = queuedId(info.response);
  const first = await untilMessage(relay.store, id, (x) => x.attempts === 1, 'first attempt');
  const state = Object.fromEntries(first.recipients.map((r) => [r.address, r.state]));
  assert.deepEqual(state, {
    'ok@example.net': 'delivered',
    'gone@example.net': 'failed',
    'grey@example.net': 'deferred',
  });
  assert.equal(first.state, 'active');
  assert.match(
    first.recipients.find((r) => r.address === 'gone@example.net')!.lastReply!,
    /^550 5\.1\.1 User unknown/,
  );
  greylist = false;
  const done = await untilMessage(
    relay.store,
    id,
    (x) => x.state === 'done',
    'retry delivers the deferred recipient',
  );
  assert.equal(done.recipients.find((r) => r.address === 'grey@example.net')!.state, 'delivered');
  // The second attempt went only to the deferred recipient, never again to the delivered one.
  const deliveredTo = upstream.received.filter((m) => m.from !== '').flatMap((m) => m.to);
  assert.deepEqual(deliveredTo.sort(), ['grey@example.net', 'ok@example.net']);
  // The failed one was reported to the sender, once.
  await waitFor(() => upstream.received.some((m) => m.from === ''), 'the bounce');
  assert.deepEqual(
    upstream.received.filter((m) => m.from === '').map((m) => m.to),
    [['app@example.com']],
  );
});

test('an unreachable upstream defers (network) and the message is kept for later', async (t) => {
  const relay = await startTestRelay({ ...smtpRoute(9), delivery: { retrySchedule: '1h' } });
  t.after(() => relay.cleanup());
  const info = await send(relay.port, {
    from: 'a@example.com',
    to: 'b@example.net',
    subject: 's',
    text: 't',
  });
  const id = queuedId(info.response);
  const m = await untilMessage(relay.store, id, (x) => x.attempts === 1, 'first attempt');
  assert.equal(m.recipients[0]!.state, 'deferred');
  assert.equal(m.history[0]!.category, 'network');
  assert.ok(m.nextAttemptAt - Date.now() > 50 * 60_000, 'next attempt follows the schedule (1h)');
});

test('a message past delivery.maxAge fails with 4.4.7 expired and the last reply', async (t) => {
  const relay = await startTestRelay({
    ...smtpRoute(9),
    delivery: { retrySchedule: '100ms', maxAge: '400ms' },
  });
  t.after(() => relay.cleanup());
  const info = await send(relay.port, {
    from: 'a@example.com',
    to: 'b@example.net',
    subject: 's',
    text: 't',
  });
  const id = queuedId(info.response);
  const m = await untilMessage(relay.store, id, (x) => x.state === 'done', 'expiry');
  assert.equal(m.recipients[0]!.state, 'failed');
  assert.match(
    m.recipients[0]!.lastReply!,
    /^4\.4\.7 Message expired: not delivered within 400ms; last reply: /,
  );
  assert.equal(m.history.at(-1)!.category, 'expired');
});

test('a whole-message refusal at DATA (554) fails every recipient; a 452 at DATA defers them', async (t) => {
  let reply = '554 5.6.0 Content rejected';
  const upstream = await startUpstream({ dataReply: () => reply });
  t.after(() => upstream.close());
  const relay = await startTestRelay({ ...smtpRoute(upstream.port), delivery: { retrySchedule: '1h' } });
  t.after(() => relay.cleanup());
  const a = queuedId(
    (await send(relay.port, { from: 'a@example.com', to: ['b@x.net', 'c@x.net'], text: 'x' })).response,
  );
  const failed = await untilMessage(relay.store, a, (x) => x.state === 'done', 'fail');
  assert.deepEqual(
    failed!.recipients.map((r) => r.state),
    ['failed', 'failed'],
  );
  assert.match(failed!.recipients[0]!.lastReply!, /554 5\.6\.0 Content rejected/);
  reply = '452 4.3.1 Insufficient storage';
  const b = queuedId((await send(relay.port, { from: 'a@example.com', to: 'b@x.net', text: 'x' })).response);
  const deferred = await untilMessage(relay.store, b, (x) => x.attempts === 1, 'defer');
  assert.equal(deferred!.recipients[0]!.state, 'deferred');
});

test('a restart keeps the queue: mail accepted while the upstream is down is delivered after the restart', async (t) => {
  const dataDir = tempDir();
  const upstream = await startUpstream();
  t.after(() => upstream.close());
  // First life: the route points at a closed port, so nothing can leave.
  const first = await startTestRelay({ ...smtpRoute(9), delivery: { retrySchedule: '1h' } }, dataDir);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++)
    ids.push(
      queuedId(
        (await send(first.port, { from: 'a@example.com', to: `r${i}@x.net`, text: `m${i}` })).response,
      ),
    );
  await first.stop(100);
  // Second life: same spool, working upstream; retryNow stands in for the 1h wait.
  const second = await startTestRelay(smtpRoute(upstream.port), dataDir);
  t.after(() => second.cleanup());
  for (const id of ids) await second.store.retryNow(id, Date.now());
  second.worker.poke();
  await waitFor(() => upstream.received.length === 3, 'all three delivered after restart');
  assert.deepEqual(upstream.received.map((m) => m.to[0]).sort(), ['r0@x.net', 'r1@x.net', 'r2@x.net']);
});

test('the capture transport (embedded default) writes each message as an .eml with its envelope', async (t) => {
  const dir = tempDir();
  const relay = await startTestRelay({ routes: { default: { transport: { kind: 'capture', dir } } } });
  t.after(() => relay.cleanup());
  const info = await send(relay.port, {
    from: 'scanner@contoso.com',
    to: 'alice@contoso.com',
    subject: 'demo',
    text: 'hi',
  });
  const id = queuedId(info.response);
  const file = await waitFor(() => readdirSync(dir).find((f) => f === `${id}.eml`), 'captured file');
  const text = readFileSync(join(dir, file), 'utf8');
  assert.match(
    text,
    /^X-Bridgehead-Queue-Id: \S+\r\nX-Bridgehead-Mail-From: <scanner@contoso\.com>\r\nX-Bridgehead-Rcpt-To: <alice@contoso\.com>\r\nReceived: /,
  );
  assert.match(text, /Subject: demo/);
});

test('a smarthost needing AUTH gets the configured credentials; a wrong password defers (auth) instead of bouncing', async (t) => {
  const upstream = await startUpstream({
    server: {
      disabledCommands: ['STARTTLS'],
      authOptional: false,
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth(auth, _s, cb) {
        if (auth.username === 'relay' && auth.password === 's3cret') return cb(null, { user: 'relay' });
        const err = new Error('5.7.8 Authentication credentials invalid') as Error & { responseCode: number };
        err.responseCode = 535;
        cb(err);
      },
    },
  });
  t.after(() => upstream.close());
  const good = await startTestRelay(smtpRoute(upstream.port, { auth: { user: 'relay', pass: 's3cret' } }));
  t.after(() => good.cleanup());
  await send(good.port, { from: 'a@example.com', to: 'b@x.net', text: 'x' });
  await waitFor(() => upstream.received.length === 1, 'authenticated delivery');
  const bad = await startTestRelay({
    ...smtpRoute(upstream.port, { auth: { user: 'relay', pass: 'wrong' } }),
    delivery: { retrySchedule: '1h' },
  });
  t.after(() => bad.cleanup());
  const id = queuedId((await send(bad.port, { from: 'a@example.com', to: 'b@x.net', text: 'x' })).response);
  const m = await untilMessage(bad.store, id, (x) => x.attempts === 1, 'auth failure recorded');
  assert.equal(m!.recipients[0]!.state, 'deferred');
  assert.equal(m!.history[0]!.category, 'auth');
});

test('the null sender (MAIL FROM:<>) goes upstream as MAIL FROM:<>', async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.close());
  const relay = await startTestRelay(smtpRoute(upstream.port));
  t.after(() => relay.cleanup());
  const info = await send(relay.port, {
    envelope: { from: '', to: ['postmaster@example.net'] },
    raw: 'Subject: bounce\r\n\r\nx\r\n',
  });
  assert.match(info.response, /^250 /);
  await waitFor(() => upstream.received.length === 1, 'delivery');
  assert.equal(upstream.received[0]!.from, '');
});

test('routes.<name>.concurrency caps how many messages of a route are in delivery at once', async (t) => {
  const upstream = await startUpstream({ holdMs: 150 });
  t.after(() => upstream.close());
  const relay = await startTestRelay({
    routes: {
      default: {
        concurrency: 2,
        transport: {
          kind: 'smtp',
          host: '127.0.0.1',
          port: upstream.port,
          security: 'none',
          maxConnections: 10,
        },
      },
    },
  });
  t.after(() => relay.cleanup());
  await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      send(relay.port, { from: 'a@example.com', to: `r${i}@x.net`, text: `m${i}` }),
    ),
  );
  await waitFor(() => upstream.received.length === 8, 'all eight delivered', 15_000);
  assert.equal(upstream.peakConcurrency(), 2);
});

test('relay.routing sends mail from one client range to its own route; the rest take the default route', async (t) => {
  const printers = tempDir();
  const others = tempDir();
  const relay = await startTestRelay({
    relay: { routing: [{ clients: ['127.0.0.2/32'], route: 'printers' }] },
    routes: {
      default: { transport: { kind: 'capture', dir: others } },
      printers: { transport: { kind: 'capture', dir: printers } },
    },
  });
  t.after(() => relay.cleanup());
  const from = async (localAddress: string) => {
    const device = nodemailer.createTransport({
      host: '127.0.0.1',
      port: relay.port,
      ignoreTLS: true,
      localAddress,
    });
    try {
      return queuedId(
        (await device.sendMail({ from: 'a@example.com', to: 'b@example.net', text: localAddress })).response,
      );
    } finally {
      device.close();
    }
  };
  const p = await from('127.0.0.2');
  const o = await from('127.0.0.1');
  assert.equal((await relay.store.get(p))!.route, 'printers');
  assert.equal((await relay.store.get(o))!.route, 'default');
  await waitFor(
    () => readdirSync(printers).includes(`${p}.eml`) && readdirSync(others).includes(`${o}.eml`),
    'both captured by their routes',
  );
});
