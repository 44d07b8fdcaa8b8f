import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';

import nodemailer, { type SendMailOptions } from 'nodemailer';

import { type Sandbox, startSandbox } from '../../../src/sandbox/index.ts';
import { DEMO, demoTenant, parseTenant } from '../../../src/sandbox/tenant.ts';
import { queuedId, startTestRelay, tempDir, untilMessage, waitFor } from '../../helpers/relay.ts';

/** A relay whose default route is Microsoft 365 client submission into the sandbox tenant. */
async function relayTo(
  t: TestContext,
  sb: Sandbox,
  extra: {
    secret?: string;
    auth?: 'oauth' | 'basic';
    password?: string;
    fromPolicy?: 'rewrite' | 'pass' | 'reject';
    retrySchedule?: string;
    methods?: string[];
    maxRecipients?: number;
    saveToSentItems?: boolean;
    clients?: unknown[];
  } = {},
) {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = join(dir, 'sandbox-ca.pem');
  writeFileSync(ca, sb.caPem);
  const relay = await startTestRelay({
    microsoft365: {
      tenants: {
        contoso: {
          tenantId: DEMO.tenantId,
          clientId: DEMO.clientId,
          clientSecret: extra.secret ?? DEMO.clientSecret,
          authorityHost: sb.http.url,
          ca,
        },
      },
    },
    routes: {
      default: {
        transport: {
          kind: 'm365',
          tenant: 'contoso',
          mailbox: 'scanner@contoso.com',
          sender: { fromPolicy: extra.fromPolicy ?? 'rewrite' },
          methods: extra.methods ?? ['submission'],
          graph: { baseUrl: sb.http.url, saveToSentItems: extra.saveToSentItems ?? true },
          submission: {
            host: '127.0.0.1',
            port: sb.submission.port,
            servername: 'smtp.office365.com',
            auth: extra.auth ?? 'oauth',
            password: extra.password,
            maxRecipients: extra.maxRecipients ?? 500,
          },
        },
      },
    },
    delivery: { retrySchedule: extra.retrySchedule ?? '1h' },
    ...(extra.clients ? { clients: extra.clients } : {}),
  });
  t.after(() => relay.cleanup());
  return relay;
}

async function send(port: number, mail: SendMailOptions) {
  const device = nodemailer.createTransport({ host: '127.0.0.1', port, ignoreTLS: true });
  try {
    return queuedId((await device.sendMail(mail)).response);
  } finally {
    device.close();
  }
}

test('client submission with an app-only OAuth2 token: delivered to the mailbox, envelope intact (Bcc included), copy in Sent Items', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const relay = await relayTo(t, sb);
  const id = await send(relay.port, {
    envelope: { from: 'scanner@contoso.com', to: ['alice@contoso.com', 'partner@fabrikam.com'] },
    raw: 'From: scanner@contoso.com\r\nTo: alice@contoso.com\r\nSubject: scan\r\n\r\npdf\r\n',
  });
  const m = await untilMessage(relay.store, id, (x) => x.state === 'done', 'delivered');
  assert.deepEqual(
    m.recipients.map((r) => r.state),
    ['delivered', 'delivered'],
  );
  assert.match(m.recipients[0]!.lastReply!, /^250 2\.0\.0 OK <.*> \[Hostname=/);
  assert.equal(m.history[0]!.transport, 'm365-submission');
  assert.equal(sb.state.folder('alice@contoso.com', 'Inbox').length, 1);
  assert.equal(sb.state.folder('scanner@contoso.com', 'SentItems').length, 1);
  assert.deepEqual(
    sb.state.trace({ recipient: 'partner@fabrikam.com' }).map((r) => r.events[1]!.event),
    ['Send external'],
    'the envelope-only recipient went out too',
  );
});

test('a token that stopped working mid-run (535) is renewed once and the message goes through', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const relay = await relayTo(t, sb);
  await untilMessage(
    relay.store,
    await send(relay.port, { from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'one' }),
    (x) => x.state === 'done',
    'first',
  );
  const issued = sb.tokens.issued;
  sb.tokens.rotateKey(); // every token the relay holds is now refused with 535 5.7.3
  sb.disconnectAll(); // so the next message must authenticate again
  const m = await untilMessage(
    relay.store,
    await send(relay.port, { from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'two' }),
    (x) => x.state === 'done',
    'second',
  );
  assert.equal(m.recipients[0]!.state, 'delivered');
  assert.equal(m.attempts, 1, 'within the same attempt');
  assert.ok(sb.tokens.issued > issued, 'a new token was fetched');
});

test('consent revoked (no SMTP.SendAsApp) keeps the mail queued as a credential problem; a bad secret too, with its AADSTS code', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  sb.tenant.apps[0]!.permissions = ['Mail.Send'];
  const relay = await relayTo(t, sb);
  const m = await untilMessage(
    relay.store,
    await send(relay.port, { from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'x' }),
    (x) => x.attempts === 1,
    'attempt',
  );
  assert.equal(m.recipients[0]!.state, 'deferred');
  assert.equal(m.history[0]!.category, 'credential');
  assert.match(m.recipients[0]!.lastReply!, /^535 5\.7\.3 Authentication unsuccessful/);

  const bad = await relayTo(t, sb, { secret: 'definitely-wrong' });
  const b = await untilMessage(
    bad.store,
    await send(bad.port, { from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'x' }),
    (x) => x.attempts === 1,
    'attempt',
  );
  assert.equal(b.recipients[0]!.state, 'deferred');
  assert.equal(b.history[0]!.category, 'credential');
  assert.match(b.recipients[0]!.lastReply!, /AADSTS7000215/);
});

test('SMTP AUTH switched off for the tenant: 535 5.7.139 classified as credential, mail kept', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  sb.tenant.organization.smtpClientAuthenticationDisabled = true;
  sb.tenant.mailboxes[1]!.smtpAuth = 'inherit';
  const relay = await relayTo(t, sb, { retrySchedule: '1m' });
  const m = await untilMessage(
    relay.store,
    await send(relay.port, { from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'x' }),
    (x) => x.attempts === 1,
    'attempt',
  );
  assert.equal(m.recipients[0]!.state, 'deferred');
  assert.equal(m.history[0]!.category, 'credential');
  assert.match(m.recipients[0]!.lastReply!, /SmtpClientAuthentication is disabled for the Tenant/);
  assert.ok(
    m.nextAttemptAt - m.history[0]!.startedAt >= 15 * 60_000,
    'credential problems wait at least 15 minutes, not the 1m schedule',
  );
});

test('sender identity: a device sending as itself is rewritten to the mailbox (original in Reply-To) and delivered', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const relay = await relayTo(t, sb);
  const id = await send(relay.port, {
    envelope: { from: 'mfp-3@contoso.com', to: ['alice@contoso.com'] },
    raw: 'From: "MFP 3rd floor" <mfp-3@contoso.com>\r\nTo: alice@contoso.com\r\nSubject: scan\r\n\r\nx\r\n',
  });
  await untilMessage(relay.store, id, (x) => x.state === 'done', 'delivered');
  const got = sb.state.folder('alice@contoso.com', 'Inbox')[0]!;
  assert.equal(got.envelopeFrom, 'scanner@contoso.com');
  assert.match(got.raw.toString(), /^From: "MFP 3rd floor" <scanner@contoso\.com>\r\n/m);
  assert.match(got.raw.toString(), /^Reply-To: mfp-3@contoso\.com\r\n/m);
});

test('sender identity reject: refused at MAIL FROM with 550 5.7.1 before Exchange sees it', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const relay = await relayTo(t, sb, { fromPolicy: 'reject' });
  await assert.rejects(
    send(relay.port, { from: 'mfp-3@contoso.com', to: 'alice@contoso.com', text: 'x' }),
    (err: { response: string }) => {
      assert.equal(
        err.response,
        '550 5.7.1 mfp-3@contoso.com may not send through this relay: mailbox scanner@contoso.com has no SendAs permission for it',
      );
      return true;
    },
  );
  assert.match(
    queuedId(
      (
        await nodemailer
          .createTransport({ host: '127.0.0.1', port: relay.port, ignoreTLS: true })
          .sendMail({ from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'ok' })
      ).response,
    ),
    /^\w+$/,
  );
});

test('with fromPolicy pass, a From the mailbox may not use is classified sender-denied and kept; Basic LOGIN works with a startup warning', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const relay = await relayTo(t, sb, { fromPolicy: 'pass' });
  const m = await untilMessage(
    relay.store,
    await send(relay.port, { from: 'printer@contoso.com', to: 'alice@contoso.com', text: 'x' }),
    (x) => x.attempts === 1,
    'attempt',
  );
  assert.equal(m.history[0]!.category, 'sender-denied');
  const basic = await relayTo(t, sb, { auth: 'basic', password: 'scanner-password' });
  await untilMessage(
    basic.store,
    await send(basic.port, { from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'x' }),
    (x) => x.state === 'done',
    'basic',
  );
  await waitFor(() => sb.state.folder('alice@contoso.com', 'Inbox').length === 1, 'arrival');
});

/** The same relay with its route's methods listed. */
function relayWithMethods(t: TestContext, sb: Sandbox, methods: string[]) {
  return relayTo(t, sb, { methods });
}

test('Graph sendMail: the envelope decides (Bcc added for envelope-only recipients, header-only ones dropped)', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const relay = await relayWithMethods(t, sb, ['graph']);
  const id = await send(relay.port, {
    envelope: { from: 'scanner@contoso.com', to: ['alice@contoso.com', 'scanner@contoso.com'] },
    raw: 'From: scanner@contoso.com\r\nTo: alice@contoso.com, stray@fabrikam.com\r\nSubject: via graph\r\n\r\nx\r\n',
  });
  const m = await untilMessage(relay.store, id, (x) => x.state === 'done', 'delivered');
  assert.match(m.recipients[0]!.lastReply!, /^202 Accepted by Graph \(request-id [0-9a-f-]{36}\)$/);
  assert.equal(m.history[0]!.transport, 'm365-graph');
  assert.equal(sb.state.folder('alice@contoso.com', 'Inbox').length, 1);
  assert.equal(
    sb.state.folder('scanner@contoso.com', 'Inbox').length,
    1,
    'the envelope-only recipient got it (Bcc)',
  );
  assert.doesNotMatch(sb.state.folder('alice@contoso.com', 'Inbox')[0]!.raw.toString(), /^Bcc:/im);
  assert.equal(
    sb.state.trace({ recipient: 'stray@fabrikam.com' }).length,
    0,
    'header-only recipient not sent to',
  );
});

test('failover: SMTP AUTH switched off for the tenant, so the route falls over from submission to Graph in the same attempt', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  sb.tenant.organization.smtpClientAuthenticationDisabled = true;
  sb.tenant.mailboxes[1]!.smtpAuth = 'inherit';
  const relay = await relayWithMethods(t, sb, ['submission', 'graph']);
  const m = await untilMessage(
    relay.store,
    await send(relay.port, {
      from: 'scanner@contoso.com',
      to: 'alice@contoso.com',
      subject: 'failover',
      text: 'x',
    }),
    (x) => x.state === 'done',
    'delivered',
  );
  assert.equal(m.attempts, 1);
  assert.equal(m.history[0]!.transport, 'm365-submission>m365-graph');
  assert.match(m.history[0]!.upstream!, /^m365-graph /);
  assert.equal(sb.state.folder('alice@contoso.com', 'Inbox')[0]!.via, 'graph');
});

test('a Graph 429 storm defers the message as throttled (no failover for a temporary refusal)', async (t) => {
  const sb = await startSandbox({ faults: { graphThrottleRatio: 1 } });
  t.after(() => sb.stop());
  const relay = await relayWithMethods(t, sb, ['graph', 'submission']);
  const m = await untilMessage(
    relay.store,
    await send(relay.port, { from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'x' }),
    (x) => x.attempts === 1,
    'attempt',
  );
  assert.equal(m.recipients[0]!.state, 'deferred');
  assert.equal(m.history[0]!.category, 'throttled', m.recipients[0]!.lastReply!);
  assert.ok(
    m.nextAttemptAt - m.history[0]!.startedAt < 5_000,
    'Retry-After (2 s) obeyed instead of the 1 h schedule',
  );
  assert.equal(sb.state.folder('alice@contoso.com', 'Inbox').length, 0);
});

test('a 10 MB message goes through Graph by draft, upload session and send; the attachment arrives whole', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const relay = await relayWithMethods(t, sb, ['graph']);
  const pdf = Buffer.alloc(10 * 1024 * 1024);
  for (let i = 0; i < pdf.length; i += 4) pdf.writeUInt32BE(i, i);
  const device = nodemailer.createTransport({ host: '127.0.0.1', port: relay.port, ignoreTLS: true });
  t.after(() => device.close());
  const info = await device.sendMail({
    from: 'scanner@contoso.com',
    to: 'alice@contoso.com',
    bcc: 'scanner@contoso.com',
    subject: 'big scan',
    text: 'see attachment',
    attachments: [{ filename: 'scan.pdf', content: pdf, contentType: 'application/pdf' }],
  });
  const m = await untilMessage(
    relay.store,
    queuedId(info.response),
    (x) => x.state === 'done',
    'delivered',
    60_000,
  );
  assert.deepEqual(
    m.recipients.map((r) => r.state),
    ['delivered', 'delivered'],
    m.recipients[0]!.lastReply!,
  );
  const got = sb.state.folder('alice@contoso.com', 'Inbox')[0]!;
  assert.equal(got.subject, 'big scan');
  const { simpleParser } = await import('mailparser');
  const parsed = await simpleParser(got.raw);
  assert.equal(parsed.attachments.length, 1);
  assert.equal(parsed.attachments[0]!.filename, 'scan.pdf');
  assert.ok(parsed.attachments[0]!.content.equals(pdf), 'byte for byte');
  assert.equal(sb.state.folder('scanner@contoso.com', 'Inbox').length, 1, 'the Bcc recipient got it too');
});

test('the first method that fits is used: more recipients than the mailbox takes per message go by Graph', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const relay = await relayTo(t, sb, { methods: ['submission', 'graph'], maxRecipients: 1 });
  const m = await untilMessage(
    relay.store,
    await send(relay.port, {
      from: 'scanner@contoso.com',
      to: ['alice@contoso.com', 'scanner@contoso.com'],
      text: 'x',
    }),
    (x) => x.state === 'done',
    'delivered',
  );
  assert.match(m.history[0]!.upstream!, /^m365-graph /);
  assert.equal(sb.state.folder('alice@contoso.com', 'Inbox')[0]!.via, 'graph');
  const small = await untilMessage(
    relay.store,
    await send(relay.port, { from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'y' }),
    (x) => x.state === 'done',
    'delivered',
  );
  assert.match(
    small.history[0]!.upstream!,
    /^m365-submission /,
    'a message that fits still takes the first method',
  );
});

test('a quota refusal (554 5.2.0) pauses the whole route: the next message waits instead of walking into it', async (t) => {
  const tenant = demoTenant();
  const sb = await startSandbox({
    tenant: parseTenant({ ...tenant, limits: { ...tenant.limits, recipientsPerDay: 1 } }),
  });
  t.after(() => sb.stop());
  const relay = await relayTo(t, sb, { retrySchedule: '1s' });
  await untilMessage(
    relay.store,
    await send(relay.port, { from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'one' }),
    (x) => x.state === 'done',
    'first',
  );
  const second = await untilMessage(
    relay.store,
    await send(relay.port, { from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'two' }),
    (x) => x.attempts === 1,
    'quota',
  );
  assert.equal(second.history[0]!.category, 'quota');
  assert.ok(
    second.nextAttemptAt - second.history[0]!.startedAt >= 60 * 60_000,
    'a quota waits at least an hour',
  );
  const third = await send(relay.port, {
    from: 'scanner@contoso.com',
    to: 'alice@contoso.com',
    text: 'three',
  });
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await relay.store.get(third))!.attempts, 0, 'the paused route sends nothing');
});

test('Graph with saveToSentItems false: delivered with its attachment, no copy in Sent Items', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const relay = await relayTo(t, sb, { methods: ['graph'], saveToSentItems: false });
  const device = nodemailer.createTransport({ host: '127.0.0.1', port: relay.port, ignoreTLS: true });
  t.after(() => device.close());
  const info = await device.sendMail({
    from: 'scanner@contoso.com',
    to: 'alice@contoso.com',
    subject: 'no copy',
    text: 'x',
    attachments: [{ filename: 'a.txt', content: 'hello attachment' }],
  });
  await untilMessage(relay.store, queuedId(info.response), (x) => x.state === 'done', 'delivered');
  const got = sb.state.folder('alice@contoso.com', 'Inbox')[0]!;
  assert.equal(got.subject, 'no copy');
  assert.match(got.raw.toString(), /filename=a\.txt|filename="a\.txt"/);
  assert.equal(sb.state.folder('scanner@contoso.com', 'SentItems').length, 0);
});

test("a client rule's mailbox sends that device's mail, whatever the route's mapping says", async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  sb.tenant.mailboxes[0]!.smtpAuth = 'enabled';
  sb.tenant.apps[0]!.fullAccess.push('alice@contoso.com');
  sb.tenant.apps[0]!.sendAs.push('alice@contoso.com');
  const relay = await relayTo(t, sb, {
    clients: [{ name: 'alice-desk', match: { addresses: ['127.0.0.0/8'] }, mailbox: 'alice@contoso.com' }],
  });
  const id = await send(relay.port, {
    envelope: { from: 'alice@contoso.com', to: ['scanner@contoso.com'] },
    raw: 'From: alice@contoso.com\r\nTo: scanner@contoso.com\r\nSubject: from my desk\r\n\r\nx\r\n',
  });
  await untilMessage(relay.store, id, (x) => x.state === 'done', 'delivered');
  assert.equal((await relay.store.get(id))!.client.mailbox, 'alice@contoso.com');
  const got = sb.state.folder('scanner@contoso.com', 'Inbox')[0]!;
  assert.equal(got.envelopeFrom, 'alice@contoso.com');
  assert.equal(sb.state.folder('alice@contoso.com', 'SentItems').length, 1, "sent by alice's mailbox");
  assert.equal(sb.state.folder('scanner@contoso.com', 'SentItems').length, 0);
});

test('Graph: ten messages at once never put more than four requests in flight for a mailbox, so no 429', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  sb.faults.graphDelayMs = 200;
  const relay = await relayTo(t, sb, { methods: ['graph'] });
  const ids = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      send(relay.port, { from: 'scanner@contoso.com', to: 'alice@contoso.com', subject: `g${i}`, text: 'x' }),
    ),
  );
  for (const id of ids) {
    const m = await untilMessage(relay.store, id, (x) => x.state === 'done', `delivered ${id}`);
    assert.equal(m.history.length, 1, `one attempt, no 429: ${m.history.map((h) => h.reply).join(' | ')}`);
  }
  assert.equal(sb.state.folder('alice@contoso.com', 'Inbox').length, 10);
});

test('token outcomes reach readiness: a wrong client secret (a configuration failure) makes /readyz 503 with the reason', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const good = await relayTo(t, sb);
  await untilMessage(
    good.store,
    await send(good.port, { from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'x' }),
    (m) => m.state === 'done',
    'sent',
  );
  const app = good.admin!.app;
  assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).json().checks.tokens, 'ok');

  const bad = await relayTo(t, sb, { secret: 'not-the-secret' });
  await send(bad.port, { from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'y' });
  await waitFor(
    async () => (await bad.admin!.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 503,
    'not ready',
  );
  const ready = (await bad.admin!.app.inject({ method: 'GET', url: '/readyz' })).json();
  assert.equal(ready.checks.store, 'ok');
  assert.match(
    ready.checks.tokens,
    /^contoso: configuration failure: .*AADSTS7000215: Invalid client secret/,
  );
});
