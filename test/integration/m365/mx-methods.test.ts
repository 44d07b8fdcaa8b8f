import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';

import nodemailer, { type SendMailOptions } from 'nodemailer';

import { type Sandbox, startSandbox } from '../../../src/sandbox/index.ts';
import { DEMO, demoTenant, parseTenant } from '../../../src/sandbox/tenant.ts';
import { startDnsServer } from '../../helpers/dns-server.ts';
import { queuedId, startTestRelay, tempDir, untilMessage } from '../../helpers/relay.ts';
import { RawSmtp } from '../../helpers/smtp-client.ts';

async function relayTo(
  t: TestContext,
  sb: Sandbox,
  method: 'direct-send' | 'connector',
  clientCert?: { certPem: string; keyPem: string },
) {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = join(dir, 'ca.pem');
  writeFileSync(ca, sb.caPem);
  let mxClientCert: { cert: string; key: string } | undefined;
  if (clientCert) {
    writeFileSync(join(dir, 'relay.crt'), clientCert.certPem);
    writeFileSync(join(dir, 'relay.key'), clientCert.keyPem);
    mxClientCert = { cert: join(dir, 'relay.crt'), key: join(dir, 'relay.key') };
  }
  const relay = await startTestRelay({
    microsoft365: {
      tenants: {
        contoso: { tenantId: DEMO.tenantId, clientId: DEMO.clientId, acceptedDomains: ['contoso.com'], ca },
      },
    },
    routes: {
      default: {
        transport: {
          kind: 'm365',
          tenant: 'contoso',
          mailbox: 'scanner@contoso.com',
          methods: [method],
          mx: { host: '127.0.0.1', port: sb.mx.port, servername: sb.mx.name, clientCert: mxClientCert },
        },
      },
    },
    delivery: { retrySchedule: '1h' },
  });
  t.after(() => relay.cleanup());
  return relay;
}

const send = async (port: number, mail: SendMailOptions) => {
  const device = nodemailer.createTransport({ host: '127.0.0.1', port, ignoreTLS: true });
  try {
    return queuedId((await device.sendMail(mail)).response);
  } finally {
    device.close();
  }
};

test('direct send delivers to the tenant MX over required STARTTLS, envelope intact', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const relay = await relayTo(t, sb, 'direct-send');
  const id = await send(relay.port, {
    envelope: { from: 'printer@contoso.com', to: ['alice@contoso.com', 'scanner@contoso.com'] },
    raw: 'From: printer@contoso.com\r\nTo: alice@contoso.com\r\nSubject: direct\r\n\r\nx\r\n',
  });
  const m = await untilMessage(relay.store, id, (x) => x.state === 'done', 'delivered');
  assert.deepEqual(
    m.recipients.map((r) => r.state),
    ['delivered', 'delivered'],
  );
  assert.equal(m.history[0]!.transport, 'm365-direct-send');
  assert.match(m.recipients[0]!.lastReply!, /^250 2\.6\.0 .* Queued mail for delivery$/);
  assert.equal(
    sb.state.folder('scanner@contoso.com', 'Inbox').length,
    1,
    'the Bcc-like envelope recipient too',
  );
});

test('a direct-send route refuses an external recipient at RCPT time, with a reply that explains why', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const relay = await relayTo(t, sb, 'direct-send');
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  await c.command('EHLO mfp');
  await c.command('MAIL FROM:<printer@contoso.com>');
  assert.equal(
    await c.command('RCPT TO:<partner@fabrikam.com>'),
    "550 5.7.1 partner@fabrikam.com is outside contoso.com: this relay sends by Microsoft 365 direct send, which only reaches the tenant's own mailboxes",
  );
  assert.match(await c.command('RCPT TO:<alice@contoso.com>'), /^250 /);
});

test('connector relay: a client certificate for an accepted domain relays to external recipients; a wrong certificate is refused 5.7.64', async (t) => {
  const tenant = demoTenant();
  const sb = await startSandbox({
    tenant: parseTenant({
      ...tenant,
      connectors: [{ name: 'bridgehead', type: 'OnPremises', tlsCertificateDomain: 'contoso.com' }],
    }),
  });
  t.after(() => sb.stop());
  const good = await relayTo(
    t,
    sb,
    'connector',
    await sb.issueClientCertificate('relay.contoso.com', ['contoso.com']),
  );
  const ok = await untilMessage(
    good.store,
    await send(good.port, { from: 'erp@contoso.com', to: 'partner@fabrikam.com', text: 'invoice' }),
    (x) => x.state === 'done',
    'relayed',
  );
  assert.equal(ok.recipients[0]!.state, 'delivered');
  assert.equal(ok.history[0]!.transport, 'm365-connector');
  assert.equal(sb.state.trace({ recipient: 'partner@fabrikam.com' })[0]!.events[1]!.event, 'Send external');

  const wrong = await relayTo(t, sb, 'connector', await sb.issueClientCertificate('relay.fabrikam.com'));
  const bad = await untilMessage(
    wrong.store,
    await send(wrong.port, { from: 'erp@contoso.com', to: 'partner@fabrikam.com', text: 'invoice' }),
    (x) => x.state === 'done',
    'refused',
  );
  assert.equal(bad.recipients[0]!.state, 'failed');
  assert.match(bad.recipients[0]!.lastReply!, /^550 5\.7\.64 TenantAttribution; Relay Access Denied/);
});

test('a connector-only route refuses a sender outside the accepted domains at MAIL FROM', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const relay = await relayTo(
    t,
    sb,
    'connector',
    await sb.issueClientCertificate('relay.contoso.com', ['contoso.com']),
  );
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  await c.command('EHLO app');
  assert.equal(
    await c.command('MAIL FROM:<app@fabrikam.com>'),
    "550 5.7.1 app@fabrikam.com is outside contoso.com: the Microsoft 365 connector relays mail from the tenant's accepted domains only",
  );
  assert.match(await c.command('MAIL FROM:<erp@contoso.com>'), /^250 /);
});

test('direct send to the MX record of a domain: looked up (no hard-coded suffix), certificate checked against the MX name', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const dns = await startDnsServer({
    mx: { 'contoso.com': [{ exchange: 'contoso-com.mail.protection.outlook.com', priority: 0 }] },
    a: { 'contoso-com.mail.protection.outlook.com': '127.0.0.1' },
  });
  t.after(() => dns.close());
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ca.pem'), sb.caPem);
  const relay = await startTestRelay({
    dns: { servers: [dns.server] },
    microsoft365: {
      tenants: {
        contoso: {
          tenantId: DEMO.tenantId,
          clientId: DEMO.clientId,
          acceptedDomains: ['contoso.com'],
          ca: join(dir, 'ca.pem'),
        },
      },
    },
    routes: {
      default: {
        transport: {
          kind: 'm365',
          tenant: 'contoso',
          mailbox: 'scanner@contoso.com',
          methods: ['direct-send'],
          mx: { domain: 'contoso.com', port: sb.mx.port },
        },
      },
    },
  });
  t.after(() => relay.cleanup());
  const m = await untilMessage(
    relay.store,
    await send(relay.port, { from: 'printer@contoso.com', to: 'alice@contoso.com', text: 'x' }),
    (x) => x.state === 'done',
    'delivered',
  );
  assert.equal(m.recipients[0]!.state, 'delivered');
  assert.equal(m.history[0]!.upstream, '127.0.0.1:' + sb.mx.port);
  assert.equal(sb.state.folder('alice@contoso.com', 'Inbox').length, 1);
});
