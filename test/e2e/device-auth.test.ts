import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { test, type TestContext } from 'node:test';

import { hashPassword } from '../../src/auth/password.ts';
import { run } from '../helpers/cli.ts';
import { makeTestPki } from '../helpers/pki.ts';
import { startTestRelay, tempDir, waitFor } from '../helpers/relay.ts';
import { tool } from '../helpers/tools.ts';

/**
 * Real clients from Debian packages log in to a STARTTLS listener with device credentials and
 * relay into the sandbox tenant, or are refused with the expected code.
 */
const dir = tempDir('bh-e2e-auth-');
const pki = makeTestPki(dir);
test.after(() => rmSync(dir, { recursive: true, force: true }));
const users = { scan01: await hashPassword('pr1nter!', 12) };

async function authRelay(t: TestContext, listener: Record<string, unknown> = {}) {
  const relay = await startTestRelay({
    users,
    listeners: [
      { host: '127.0.0.1', port: 0, mode: 'starttls', cert: pki.certFile, key: pki.keyFile, ...listener },
    ],
    clients: [{ name: 'scanners', match: { users: ['scan01'] }, senders: ['@contoso.com'] }],
  });
  t.after(() => relay.cleanup());
  const inbox = (n: number) =>
    waitFor(() => relay.sandbox!.state.folder('alice@contoso.com', 'Inbox').length === n, `${n} in Inbox`);
  return { relay, inbox };
}

const swaksBase = (port: number) => [
  '--server',
  `127.0.0.1:${port}`,
  '--from',
  'scanner@contoso.com',
  '--to',
  'alice@contoso.com',
  '--tls',
  '--tls-verify',
  '--tls-ca-path',
  pki.caFile,
  '--tls-sni',
  'localhost',
];

test(
  'swaks: STARTTLS + AUTH LOGIN, then AUTH PLAIN with pipelining, land in the sandbox',
  { skip: tool('swaks') },
  async (t) => {
    const { relay, inbox } = await authRelay(t);
    const login = await run('swaks', [
      ...swaksBase(relay.port),
      '--auth',
      'LOGIN',
      '--auth-user',
      'scan01',
      '--auth-password',
      'pr1nter!',
    ]);
    assert.equal(login.code, 0, login.stdout + login.stderr);
    assert.match(login.stdout, /<~ {2}235 2\.7\.0 Authentication successful/);
    assert.match(login.stdout, /<~ {2}250 2\.0\.0 Ok: queued as /);
    await inbox(1);
    const plain = await run('swaks', [
      ...swaksBase(relay.port),
      '--auth',
      'PLAIN',
      '--auth-user',
      'scan01',
      '--auth-password',
      'pr1nter!',
      '--pipeline',
    ]);
    assert.equal(plain.code, 0, plain.stdout + plain.stderr);
    await inbox(2);
  },
);

test(
  'swaks: a wrong password gets 535 5.7.8; no login gets 530 5.7.0; nothing arrives',
  { skip: tool('swaks') },
  async (t) => {
    const { relay } = await authRelay(t);
    const wrong = await run('swaks', [
      ...swaksBase(relay.port),
      '--auth',
      'LOGIN',
      '--auth-user',
      'scan01',
      '--auth-password',
      'nope',
    ]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stdout + wrong.stderr, /535 5\.7\.8 Authentication credentials invalid/);
    const anon = await run('swaks', swaksBase(relay.port));
    assert.notEqual(anon.code, 0);
    assert.match(anon.stdout + anon.stderr, /530 5\.7\.0 Authentication required/);
    assert.equal((await relay.store.list()).length, 0);
  },
);

test(
  'swaks: a TLS 1.0-only client on a legacy listener is served, and refused by a modern one',
  { skip: tool('swaks') },
  async (t) => {
    const legacy = await authRelay(t, { mode: 'implicit-tls', tlsProfile: 'legacy' });
    const modern = await authRelay(t, { mode: 'implicit-tls' });
    const args = (port: number) => [
      '--server',
      `127.0.0.1:${port}`,
      '--from',
      'scanner@contoso.com',
      '--to',
      'alice@contoso.com',
      '--tls-on-connect',
      '--tls-protocol',
      'tlsv1',
      '--tls-cipher',
      'DEFAULT:@SECLEVEL=0',
      '--auth',
      'LOGIN',
      '--auth-user',
      'scan01',
      '--auth-password',
      'pr1nter!',
    ];
    const old = await run('swaks', args(legacy.relay.port));
    assert.equal(old.code, 0, old.stdout + old.stderr);
    assert.match(old.stdout, /TLS started with cipher TLSv1(\.0)?:/);
    await legacy.inbox(1);
    // It arrived through the sandbox's smtp.office365.com, which answers TLS 1.0/1.1 with
    // 421 4.7.66 as Exchange does: the device spoke TLS 1.0, the relay left over TLS 1.2+.
    assert.equal(legacy.relay.sandbox!.state.folder('alice@contoso.com', 'Inbox')[0]!.via, 'submission');
    const refused = await run('swaks', args(modern.relay.port));
    assert.notEqual(refused.code, 0);
    assert.equal((await modern.relay.store.list()).length, 0);
  },
);

test(
  'Python smtplib: starttls() with a verifying context, login(), send; a bad login raises 535',
  { skip: tool('python3') },
  async (t) => {
    const { relay, inbox } = await authRelay(t);
    const script = `
import smtplib, ssl, sys
port, ca, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
with smtplib.SMTP('127.0.0.1', port, timeout=10) as s:
    s.ehlo('erp.lan')
    s._host = 'localhost'  # verify the certificate for the name it carries
    s.starttls(context=ctx)
    s.ehlo('erp.lan')
    try:
        s.login('scan01', password)
    except smtplib.SMTPAuthenticationError as e:
        print('refused', e.smtp_code, e.smtp_error.decode())
        sys.exit(3)
    s.sendmail('erp@contoso.com', ['alice@contoso.com'], b'From: erp@contoso.com\\r\\nSubject: smtplib\\r\\n\\r\\nhello\\r\\n')
    print('sent')
`;
    const ok = await run('python3', ['-c', script, String(relay.port), pki.caFile, 'pr1nter!']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    await inbox(1);
    const bad = await run('python3', ['-c', script, String(relay.port), pki.caFile, 'wrong']);
    assert.equal(bad.code, 3, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /^refused 535 5\.7\.8 Authentication credentials invalid$/m);
  },
);

test(
  'curl: --ssl-reqd with --user relays; without credentials it is refused with 530',
  { skip: tool('curl') },
  async (t) => {
    const { relay, inbox } = await authRelay(t);
    const msgDir = tempDir();
    t.after(() => rmSync(msgDir, { recursive: true, force: true }));
    const file = `${msgDir}/msg.txt`;
    writeFileSync(file, 'From: monitor@contoso.com\r\nSubject: curl\r\n\r\nup\r\n');
    const args = [
      '-sS',
      '-v',
      '--ssl-reqd',
      '--cacert',
      pki.caFile,
      '--connect-to',
      `localhost:${relay.port}:127.0.0.1:${relay.port}`,
      `smtp://localhost:${relay.port}`,
      '--mail-from',
      'monitor@contoso.com',
      '--mail-rcpt',
      'alice@contoso.com',
      '--upload-file',
      file,
    ];
    const ok = await run('curl', [...args, '--user', 'scan01:pr1nter!']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /< 235 2\.7\.0 /);
    await inbox(1);
    const anon = await run('curl', args);
    assert.notEqual(anon.code, 0);
    assert.match(anon.stderr, /< 530 5\.7\.0 Authentication required/);
  },
);
