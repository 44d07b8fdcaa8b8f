import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { connect as tlsConnect } from 'node:tls';

import nodemailer from 'nodemailer';

import { type Sandbox, startSandbox } from '../../../src/sandbox/index.ts';
import { DEMO, demoTenant, parseTenant, type Tenant } from '../../../src/sandbox/tenant.ts';
import { AUDIENCES } from '../../../src/sandbox/tokens.ts';
import { RawSmtp } from '../../helpers/smtp-client.ts';

async function sandbox(t: TestContext, change: (t: Tenant) => unknown = (x) => x): Promise<Sandbox> {
  const sb = await startSandbox({ tenant: parseTenant(change(demoTenant())) });
  t.after(() => sb.stop());
  return sb;
}

function token(
  sb: Sandbox,
  roles = ['SMTP.SendAsApp'],
  audience: (typeof AUDIENCES)[keyof typeof AUDIENCES] = AUDIENCES.exchange,
): string {
  return sb.tokens.issue({
    tenantId: DEMO.tenantId,
    appId: DEMO.clientId,
    objectId: DEMO.objectId,
    audience,
    roles,
  }).token;
}

function oauthClient(sb: Sandbox, user: string, accessToken: string, extra: Record<string, unknown> = {}) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port: sb.submission.port,
    requireTLS: true,
    tls: { ca: sb.caPem, servername: 'smtp.office365.com' },
    auth: { type: 'OAuth2', user, accessToken },
    ...extra,
  });
}

const xoauth2 = (user: string, tok: string) =>
  Buffer.from(`user=${user}\x01auth=Bearer ${tok}\x01\x01`).toString('base64');

async function startTls(sb: Sandbox, raw: RawSmtp): Promise<RawSmtp> {
  assert.match(await raw.command('STARTTLS'), /^220 /);
  const secure = tlsConnect({ socket: raw.socket, ca: sb.caPem, servername: 'smtp.office365.com' });
  await new Promise<void>((resolve, reject) =>
    secure.once('secureConnect', () => resolve()).once('error', reject),
  );
  return RawSmtp.wrap(secure);
}

test('EHLO before TLS has STARTTLS and no AUTH; after TLS, AUTH LOGIN XOAUTH2 and SIZE 157286400; AUTH before TLS is 504 5.7.4', async (t) => {
  const sb = await sandbox(t);
  const raw = await RawSmtp.connect(sb.submission.port);
  t.after(() => raw.close());
  assert.match(
    await raw.reply(),
    /^220 SN2PR00CA0018\.outlook\.office365\.com ESMTP Microsoft ESMTP MAIL Service ready at /,
  );
  const before = await raw.command('EHLO printer');
  assert.match(before, /250-STARTTLS/);
  assert.doesNotMatch(before, /AUTH/);
  assert.match(await raw.command('AUTH LOGIN'), /^504 5\.7\.4 Unrecognized authentication type \[.*\]$/);
  const secure = await startTls(sb, raw);
  const after = await secure.command('EHLO printer');
  assert.match(after, /250[- ]AUTH LOGIN XOAUTH2/);
  assert.match(after, /250[- ]SIZE 157286400/);
  assert.match(
    await secure.command('AUTH PLAIN AGZvbwBiYXI='),
    /^504 5\.7\.4 Unrecognized authentication type/,
  );
  assert.match(
    await secure.command('MAIL FROM:<scanner@contoso.com>'),
    /^530 5\.7\.57 Client not authenticated to send mail\. \[.*\]$/,
  );
});

test('XOAUTH2 in the one-line and the two-step form, with the 334 and its trailing space', async (t) => {
  const sb = await sandbox(t);
  for (const twoStep of [false, true]) {
    const raw = await RawSmtp.connect(sb.submission.port);
    await raw.reply();
    await raw.command('EHLO app');
    const s = await startTls(sb, raw);
    await s.command('EHLO app');
    const b64 = xoauth2('scanner@contoso.com', token(sb));
    if (twoStep) {
      s.write('AUTH XOAUTH2\r\n');
      assert.equal(await s.rawLine(), '334 ');
      assert.equal(await s.command(b64), '235 2.7.0 Authentication successful');
    } else {
      assert.equal(await s.command(`AUTH XOAUTH2 ${b64}`), '235 2.7.0 Authentication successful');
    }
    s.close();
  }
});

test('a good token sends: 250 in the observed format, a copy in Sent Items, the message in the Inbox', async (t) => {
  const sb = await sandbox(t);
  const info = await oauthClient(sb, 'scanner@contoso.com', token(sb)).sendMail({
    from: 'scanner@contoso.com',
    to: 'alice@contoso.com',
    subject: 'Scan',
    text: 'x',
  });
  assert.match(info.response, /^250 2\.0\.0 OK <[0-9A-F]{16}@[\w.]+> \[Hostname=[\w.]+\]$/);
  assert.equal(sb.state.folder('alice@contoso.com', 'Inbox').length, 1);
  assert.equal(sb.state.folder('scanner@contoso.com', 'SentItems').length, 1);
});

test('bad tokens and missing app rights all get 535 5.7.3', async (t) => {
  const sb = await sandbox(t, (x) => ({
    ...x,
    apps: [{ ...x.apps[0]!, fullAccess: ['scanner@contoso.com'] }],
  }));
  const cases: [string, string][] = [
    ['tampered', `${token(sb).slice(0, -4)}AAAA`],
    ['Graph audience', token(sb, ['Mail.Send'], AUDIENCES.graph)],
    ['no SMTP.SendAsApp role', token(sb, [])],
  ];
  for (const [name, tok] of cases) {
    await assert.rejects(
      oauthClient(sb, 'scanner@contoso.com', tok).sendMail({
        from: 'scanner@contoso.com',
        to: 'alice@contoso.com',
        text: 'x',
      }),
      (err: { response: string }) => {
        assert.match(err.response, /^535 5\.7\.3 Authentication unsuccessful \[/, name);
        return true;
      },
    );
  }
  // No FullAccess on alice's mailbox for the app.
  await assert.rejects(
    oauthClient(sb, 'alice@contoso.com', token(sb)).sendMail({
      from: 'alice@contoso.com',
      to: 'alice@contoso.com',
      text: 'x',
    }),
    /535 5\.7\.3/,
  );
});

test('SMTP AUTH switched off for the tenant or the mailbox gives the two 535 5.7.139 texts', async (t) => {
  const sb = await sandbox(t, (x) => ({
    ...x,
    organization: { smtpClientAuthenticationDisabled: true },
    mailboxes: x.mailboxes.map((m) => ({ ...m, smtpAuth: 'inherit' })),
  }));
  await assert.rejects(
    oauthClient(sb, 'scanner@contoso.com', token(sb)).sendMail({
      from: 'scanner@contoso.com',
      to: 'alice@contoso.com',
      text: 'x',
    }),
    (err: { response: string }) => {
      assert.equal(
        err.response,
        '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.',
      );
      return true;
    },
  );
  const sb2 = await sandbox(t, (x) => ({
    ...x,
    mailboxes: x.mailboxes.map((m) => ({ ...m, smtpAuth: 'disabled' })),
  }));
  await assert.rejects(
    oauthClient(sb2, 'scanner@contoso.com', token(sb2)).sendMail({
      from: 'scanner@contoso.com',
      to: 'alice@contoso.com',
      text: 'x',
    }),
    /535 5\.7\.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox/,
  );
});

test('Basic LOGIN works while the tenant allows it; wrong password and disabled Basic get their 5.7.139 texts', async (t) => {
  const login = (sb: Sandbox, pass: string) =>
    nodemailer.createTransport({
      host: '127.0.0.1',
      port: sb.submission.port,
      requireTLS: true,
      tls: { ca: sb.caPem, servername: 'smtp.office365.com' },
      auth: { user: 'scanner@contoso.com', pass },
    });
  const sb = await sandbox(t);
  assert.match(
    (
      await login(sb, 'scanner-password').sendMail({
        from: 'scanner@contoso.com',
        to: 'alice@contoso.com',
        text: 'x',
      })
    ).response,
    /^250 /,
  );
  await assert.rejects(
    login(sb, 'nope').sendMail({ from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'x' }),
    /535 5\.7\.139 Authentication unsuccessful, the user credentials were incorrect/,
  );
  const off = await sandbox(t, (x) => ({ ...x, organization: { basicAuthAllowed: false } }));
  await assert.rejects(
    login(off, 'scanner-password').sendMail({
      from: 'scanner@contoso.com',
      to: 'alice@contoso.com',
      text: 'x',
    }),
    /535 5\.7\.139 Authentication unsuccessful, basic authentication is disabled/,
  );
});

test('SendAs is checked at MAIL FROM (550 5.7.60) and on the From header at the end of DATA (554 5.2.252)', async (t) => {
  const sb = await sandbox(t);
  const c = oauthClient(sb, 'scanner@contoso.com', token(sb));
  await assert.rejects(
    c.sendMail({ from: 'alice@contoso.com', to: 'alice@contoso.com', text: 'x' }),
    (err: { response: string }) => {
      assert.equal(err.response, '550 5.7.60 SMTP; Client does not have permissions to send as this sender');
      return true;
    },
  );
  await assert.rejects(
    c.sendMail({
      envelope: { from: 'scanner@contoso.com', to: ['alice@contoso.com'] },
      from: 'ceo@contoso.com',
      to: 'alice@contoso.com',
      text: 'x',
    }),
    (err: { response: string }) => {
      assert.match(
        err.response,
        /^554 5\.2\.252 SendAsDenied; scanner@contoso\.com not allowed to send as ceo@contoso\.com; STOREDRV\.Submission\.Exception:SendAsDeniedException/,
      );
      return true;
    },
  );
  assert.equal(sb.state.trace().length, 0, 'rejected submissions are not traced');
});

test('repeated SendAs errors throttle the mailbox: 550 5.2.252 Sender throttled due to continuous send as denied errors', async (t) => {
  const sb = await sandbox(t, (x) => ({ ...x, limits: { ...x.limits, continuousErrorThreshold: 3 } }));
  const c = oauthClient(sb, 'scanner@contoso.com', token(sb));
  for (let i = 0; i < 3; i++)
    await assert.rejects(
      c.sendMail({ from: 'alice@contoso.com', to: 'alice@contoso.com', text: 'x' }),
      /5\.7\.60/,
    );
  await assert.rejects(
    c.sendMail({ from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'x' }),
    (err: { response: string }) => {
      assert.equal(err.response, '550 5.2.252 Sender throttled due to continuous send as denied errors.');
      return true;
    },
  );
});

test('a fourth concurrent connection for one mailbox gets 432 4.3.2', async (t) => {
  const sb = await sandbox(t);
  const sessions: RawSmtp[] = [];
  t.after(() => sessions.forEach((s) => s.close()));
  const open = async () => {
    const raw = await RawSmtp.connect(sb.submission.port);
    await raw.reply();
    await raw.command('EHLO app');
    const s = await startTls(sb, raw);
    sessions.push(s);
    await s.command('EHLO app');
    return s.command(`AUTH XOAUTH2 ${xoauth2('scanner@contoso.com', token(sb))}`);
  };
  for (let i = 0; i < 3; i++) assert.match(await open(), /^235 /);
  assert.equal(await open(), '432 4.3.2 Concurrent connections limit exceeded.');
});

test('recipients per message over the mailbox limit, and the rolling 24 h recipient quota (554 5.2.0)', async (t) => {
  const sb = await sandbox(t, (x) => ({
    ...x,
    mailboxes: x.mailboxes.map((m) => ({ ...m, recipientLimit: 2 })),
    limits: { ...x.limits, recipientsPerDay: 3 },
  }));
  const c = oauthClient(sb, 'scanner@contoso.com', token(sb));
  const info = await c.sendMail({
    from: 'scanner@contoso.com',
    to: ['alice@contoso.com', 'a@fabrikam.com', 'b@fabrikam.com'],
    text: 'x',
  });
  assert.deepEqual(info.rejected, ['b@fabrikam.com'], 'the third recipient is refused at RCPT');
  await c.sendMail({ from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'x' });
  await assert.rejects(
    c.sendMail({ from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'x' }),
    (err: { response: string }) => {
      assert.equal(err.response, '554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException');
      return true;
    },
  );
});

test('TLS 1.0 is refused with 421 4.7.66 unless the tenant allows legacy clients', async (t) => {
  const sb = await sandbox(t);
  const raw = await RawSmtp.connect(sb.submission.port);
  t.after(() => raw.close());
  await raw.reply();
  await raw.command('EHLO old-printer');
  assert.match(await raw.command('STARTTLS'), /^220 /);
  const old = tlsConnect({
    socket: raw.socket,
    ca: sb.caPem,
    servername: 'smtp.office365.com',
    minVersion: 'TLSv1',
    maxVersion: 'TLSv1',
    ciphers: 'DEFAULT:@SECLEVEL=0',
  });
  await new Promise<void>((resolve, reject) =>
    old.once('secureConnect', () => resolve()).once('error', reject),
  );
  const s = RawSmtp.wrap(old);
  assert.equal(
    await s.reply(),
    '421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2. Visit https://aka.ms/smtp_auth_tls',
  );
});

test('a seeded 451 4.7.0 PRX fault ratio is deterministic', async (t) => {
  const outcomes = async () => {
    const sb = await startSandbox({ faults: { smtpTempErrorRatio: 0.5, seed: 42 } });
    t.after(() => sb.stop());
    const c = oauthClient(sb, 'scanner@contoso.com', token(sb));
    const seen: string[] = [];
    for (let i = 0; i < 8; i++) {
      try {
        await c.sendMail({ from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'x' });
        seen.push('ok');
      } catch (err) {
        seen.push((err as { response: string }).response);
      }
    }
    return seen;
  };
  const first = await outcomes();
  assert.ok(
    first.includes('ok') && first.includes('451 4.7.0 Temporary server error. Please try again later. PRX2'),
    first.join(' | '),
  );
  assert.deepEqual(await outcomes(), first);
});

test('over 30 messages a minute the excess is accepted and carried over: traced Pending, not yet in the Inbox', async (t) => {
  const sb = await sandbox(t, (x) => ({ ...x, limits: { ...x.limits, messagesPerMinute: 2 } }));
  const c = oauthClient(sb, 'scanner@contoso.com', token(sb));
  for (let i = 0; i < 3; i++) {
    const info = await c.sendMail({
      from: 'scanner@contoso.com',
      to: 'alice@contoso.com',
      subject: `m${i}`,
      text: 'x',
    });
    assert.match(info.response, /^250 2\.0\.0 OK/, 'no reply code for the message rate limit, only a delay');
  }
  assert.equal(sb.state.folder('alice@contoso.com', 'Inbox').length, 2);
  assert.deepEqual(
    sb.state.trace({ status: 'Pending' }).map((r) => r.subject),
    ['m2'],
  );
});

test('mail over the mailbox MaxSendSize is refused at the end of DATA with 550 5.2.3', async (t) => {
  const sb = await sandbox(t, (x) => ({
    ...x,
    mailboxes: x.mailboxes.map((m) => ({ ...m, maxSendSize: '10KB' })),
  }));
  await assert.rejects(
    oauthClient(sb, 'scanner@contoso.com', token(sb)).sendMail({
      from: 'scanner@contoso.com',
      to: 'alice@contoso.com',
      text: 'x'.repeat(20_000),
    }),
    (err: { response: string }) => {
      assert.equal(
        err.response,
        '550 5.2.3 RESOLVER.RST.SendSizeLimit.Sender; message too large for this sender',
      );
      return true;
    },
  );
});

test('after Basic authentication is retired, AUTH LOGIN gets 550 5.7.30', async (t) => {
  const sb = await sandbox(t, (x) => ({ ...x, organization: { basicAuthRetired: true } }));
  const c = nodemailer.createTransport({
    host: '127.0.0.1',
    port: sb.submission.port,
    requireTLS: true,
    tls: { ca: sb.caPem, servername: 'smtp.office365.com' },
    auth: { user: 'scanner@contoso.com', pass: 'scanner-password' },
  });
  await assert.rejects(
    c.sendMail({ from: 'scanner@contoso.com', to: 'alice@contoso.com', text: 'x' }),
    /550 5\.7\.30 Basic authentication is not supported for Client Submission\./,
  );
});
