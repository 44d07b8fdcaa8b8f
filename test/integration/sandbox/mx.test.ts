import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

import nodemailer from 'nodemailer';

import { type Sandbox, startSandbox } from '../../../src/sandbox/index.ts';
import { DEMO, parseTenant } from '../../../src/sandbox/tenant.ts';
import { RawSmtp } from '../../helpers/smtp-client.ts';

function tenant(extra: Record<string, unknown> = {}) {
  return parseTenant({
    tenantId: DEMO.tenantId,
    name: 'contoso.com',
    acceptedDomains: ['contoso.com'],
    mailboxes: [{ address: 'alice@contoso.com' }, { address: 'scanner@contoso.com' }],
    ...extra,
  });
}

async function sandbox(t: TestContext, extra: Record<string, unknown> = {}): Promise<Sandbox> {
  const sb = await startSandbox({ tenant: tenant(extra) });
  t.after(() => sb.stop());
  return sb;
}

function client(sb: Sandbox, opts: Record<string, unknown> = {}) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port: sb.mx.port,
    tls: { ca: sb.caPem, servername: sb.mx.name },
    ...opts,
  });
}

test('the MX greets like Exchange, offers STARTTLS and SIZE 157286400, and no AUTH', async (t) => {
  const sb = await sandbox(t);
  const c = await RawSmtp.connect(sb.mx.port);
  t.after(() => c.close());
  assert.match(
    await c.reply(),
    /^220 contoso-com\.mail\.protection\.outlook\.com ESMTP Microsoft ESMTP MAIL Service ready at .* \[[0-9A-F]{16}\]$/,
  );
  const ehlo = await c.command('EHLO printer.lan');
  assert.match(ehlo, /250-STARTTLS/);
  assert.match(ehlo, /250[- ]SIZE 157286400/);
  assert.doesNotMatch(ehlo, /AUTH/);
});

test('mail for an accepted-domain mailbox is delivered to its Inbox over verified TLS, with a trace row', async (t) => {
  const sb = await sandbox(t);
  const info = await client(sb, { requireTLS: true }).sendMail({
    from: 'printer@fabrikam.com',
    to: 'alice@contoso.com',
    subject: 'Scan',
    text: 'pdf',
  });
  assert.match(info.response, /^250 2\.6\.0 <.*> \[InternalId=\d+, Hostname=.*\] Queued mail for delivery$/);
  const inbox = sb.state.folder('alice@contoso.com', 'Inbox');
  assert.equal(inbox.length, 1);
  assert.equal(inbox[0]!.subject, 'Scan');
  const [row] = sb.state.trace({ recipient: '*@contoso.com' });
  assert.equal(row!.status, 'Delivered');
  assert.deepEqual(
    row!.events.map((e) => e.event),
    ['Receive', 'Deliver'],
  );
});

test('an unknown mailbox in an accepted domain gets 550 5.1.10', async (t) => {
  const sb = await sandbox(t);
  await assert.rejects(
    client(sb).sendMail({ from: 'a@fabrikam.com', to: 'nobody@contoso.com', text: 'x' }),
    (err: { response: string }) => {
      assert.match(err.response, /^550 5\.1\.10 RESOLVER\.ADR\.RecipientNotFound/);
      return true;
    },
  );
});

test('an external recipient without a connector gets 550 5.7.64 TenantAttribution and nothing is traced', async (t) => {
  const sb = await sandbox(t);
  await assert.rejects(
    client(sb).sendMail({ from: 'scanner@contoso.com', to: 'partner@fabrikam.com', text: 'x' }),
    (err: { response: string }) => {
      assert.match(err.response, /^550 5\.7\.64 TenantAttribution; Relay Access Denied \[.*\]$/);
      return true;
    },
  );
  assert.equal(sb.state.trace().length, 0, 'session-time rejections are not traced (facts §6)');
});

test('an OnPremises connector by sender IP relays to external recipients; other IPs still get 5.7.64', async (t) => {
  const sb = await sandbox(t, {
    connectors: [{ name: 'relay', type: 'OnPremises', senderIpRanges: ['127.0.0.2/32'] }],
  });
  const info = await client(sb, { localAddress: '127.0.0.2' }).sendMail({
    from: 'scanner@contoso.com',
    to: 'partner@fabrikam.com',
    text: 'x',
  });
  assert.match(info.response, /^250 2\.6\.0/);
  assert.equal(sb.state.trace({ recipient: 'partner@fabrikam.com' })[0]!.events[1]!.event, 'Send external');
  await assert.rejects(
    client(sb, { localAddress: '127.0.0.3' }).sendMail({
      from: 'scanner@contoso.com',
      to: 'partner@fabrikam.com',
      text: 'x',
    }),
    /5\.7\.64/,
  );
});

test('an OnPremises connector by certificate accepts a client certificate for an accepted domain from the tenant CA only', async (t) => {
  const sb = await sandbox(t, {
    connectors: [{ name: 'relay-cert', type: 'OnPremises', tlsCertificateDomain: 'contoso.com' }],
  });
  const good = await sb.issueClientCertificate('relay.contoso.com', ['contoso.com']);
  const info = await client(sb, {
    requireTLS: true,
    tls: { ca: sb.caPem, servername: sb.mx.name, cert: good.chainPem, key: good.keyPem },
  }).sendMail({
    from: 'scanner@contoso.com',
    to: 'partner@fabrikam.com',
    text: 'x',
  });
  assert.match(info.response, /^250 /);
  const wrongDomain = await sb.issueClientCertificate('relay.fabrikam.com');
  await assert.rejects(
    client(sb, {
      requireTLS: true,
      tls: { ca: sb.caPem, servername: sb.mx.name, cert: wrongDomain.chainPem, key: wrongDomain.keyPem },
    }).sendMail({
      from: 'scanner@contoso.com',
      to: 'partner@fabrikam.com',
      text: 'x',
    }),
    /5\.7\.64/,
  );
  const other = await startSandbox({ tenant: tenant() }); // a certificate from another CA must not count
  t.after(() => other.stop());
  const foreign = await other.issueClientCertificate('relay.contoso.com', ['contoso.com']);
  await assert.rejects(
    client(sb, {
      requireTLS: true,
      tls: { ca: sb.caPem, servername: sb.mx.name, cert: foreign.chainPem, key: foreign.keyPem },
    }).sendMail({
      from: 'scanner@contoso.com',
      to: 'partner@fabrikam.com',
      text: 'x',
    }),
    /5\.7\.64/,
  );
});

test('RejectDirectSend refuses anonymous mail from an accepted domain with 550 5.7.68; a connector lets it through', async (t) => {
  const sb = await sandbox(t, {
    organization: { rejectDirectSend: true },
    connectors: [{ name: 'relay', type: 'OnPremises', senderIpRanges: ['127.0.0.2'] }],
  });
  await assert.rejects(
    client(sb).sendMail({ from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'x' }),
    (err: { response: string }) => {
      assert.equal(
        err.response,
        '550 5.7.68 TenantInboundAttribution; Direct Send not allowed for this organization from unauthorized sources',
      );
      return true;
    },
  );
  await client(sb).sendMail({
    from: 'partner@fabrikam.com',
    to: 'alice@contoso.com',
    text: 'external senders are not direct send',
  });
  await client(sb, { localAddress: '127.0.0.2' }).sendMail({
    from: 'scanner@contoso.com',
    to: 'alice@contoso.com',
    text: 'x',
  });
  assert.equal(sb.state.folder('alice@contoso.com', 'Inbox').length, 2);
});

test('a Partner connector restricted to an IP refuses its sender domain from elsewhere with 550 5.7.51', async (t) => {
  const sb = await sandbox(t, {
    connectors: [
      {
        name: 'fabrikam',
        type: 'Partner',
        senderIpRanges: ['127.0.0.4'],
        senderDomains: ['fabrikam.com'],
        restrictDomainsToIPAddresses: true,
      },
    ],
  });
  await assert.rejects(
    client(sb).sendMail({ from: 'x@fabrikam.com', to: 'alice@contoso.com', text: 'x' }),
    (err: { response: string }) => {
      assert.match(
        err.response,
        /^550 5\.7\.51 TenantInboundAttribution; There is a partner connector configured/,
      );
      return true;
    },
  );
  const info = await client(sb, { localAddress: '127.0.0.4' }).sendMail({
    from: 'x@fabrikam.com',
    to: 'alice@contoso.com',
    text: 'x',
  });
  assert.match(info.response, /^250 /);
});

test('the tenant external recipient limit answers 550 5.7.233 once reached', async (t) => {
  const sb = await sandbox(t, {
    connectors: [{ name: 'relay', type: 'OnPremises', senderIpRanges: ['127.0.0.2'] }],
    limits: { externalRecipientsPerDay: 2 },
  });
  const c = client(sb, { localAddress: '127.0.0.2' });
  await c.sendMail({ from: 'scanner@contoso.com', to: ['a@fabrikam.com', 'b@fabrikam.com'], text: 'x' });
  await assert.rejects(
    c.sendMail({ from: 'scanner@contoso.com', to: 'c@fabrikam.com', text: 'x' }),
    (err: { response: string }) => {
      assert.match(
        err.response,
        /^550 5\.7\.233 - Your message can't be sent because your tenant exceeded its daily limit/,
      );
      return true;
    },
  );
});
