import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';

import { run } from '../helpers/cli.ts';
import { startTestRelay, tempDir, waitFor } from '../helpers/relay.ts';
import { tool } from '../helpers/tools.ts';

async function captureRelay(t: TestContext, overrides: Record<string, unknown> = {}) {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const relay = await startTestRelay({
    routes: { default: { transport: { kind: 'capture', dir } } },
    ...overrides,
  });
  t.after(() => relay.cleanup());
  const captured = async (id: string) => {
    const file = await waitFor(() => readdirSync(dir).find((f) => f === `${id}.eml`), `capture of ${id}`);
    return readFileSync(join(dir, file), 'utf8');
  };
  return { relay, captured };
}

test('swaks: the quick-start command is accepted and delivered', { skip: tool('swaks') }, async (t) => {
  const { relay, captured } = await captureRelay(t);
  const r = await run('swaks', [
    '--server',
    `127.0.0.1:${relay.port}`,
    '--from',
    'scanner@contoso.com',
    '--to',
    'alice@contoso.com',
    '--header',
    'Subject: swaks test',
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const id = /<- {2}250 2\.0\.0 Ok: queued as (\S+)/.exec(r.stdout)?.[1];
  assert.ok(id, r.stdout);
  const eml = await captured(id);
  assert.match(eml, /X-Bridgehead-Rcpt-To: <alice@contoso\.com>/);
  assert.match(eml, /Subject: swaks test/);
});

test(
  'swaks: an oversize message is refused with 552 5.3.4 and swaks exits non-zero',
  { skip: tool('swaks') },
  async (t) => {
    const { relay } = await captureRelay(t, { limits: { maxMessageSize: '2KB' } });
    const r = await run('swaks', [
      '--server',
      `127.0.0.1:${relay.port}`,
      '--from',
      'a@example.com',
      '--to',
      'b@example.net',
      '--body',
      'x'.repeat(5000),
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /552 5\.3\.4 Message too big/);
  },
);

test('Python smtplib: two recipients and an 8-bit UTF-8 body', { skip: tool('python3') }, async (t) => {
  const { relay, captured } = await captureRelay(t);
  const script = `
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m['From'] = 'erp@example.com'
m['To'] = 'a@example.net, b@example.net'
m['Subject'] = 'Rechnung für März'
m.set_content('Grüße aus der Buchhaltung', charset='utf-8', cte='8bit')
with smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10) as s:
    s.ehlo('erp.lan')
    assert s.has_extn('8bitmime') and s.has_extn('smtputf8') and s.has_extn('pipelining')
    code, msg = s.mail('erp@example.com', ['BODY=8BITMIME'])
    assert code == 250, (code, msg)
    for r in ('a@example.net', 'b@example.net'):
        assert s.rcpt(r)[0] == 250
    code, msg = s.data(m.as_bytes())
    print(code, msg.decode())
`;
  const r = await run('python3', ['-c', script, String(relay.port)]);
  assert.equal(r.code, 0, r.stderr);
  const id = /^250 2\.0\.0 Ok: queued as (\S+)$/m.exec(r.stdout)?.[1];
  assert.ok(id, r.stdout);
  const stored = (await relay.store.get(id))!;
  assert.equal(stored.bodyType, '8bitmime');
  const eml = Buffer.from(await captured(id), 'utf8').toString();
  assert.match(eml, /Grüße aus der Buchhaltung/);
  assert.match(eml, /X-Bridgehead-Rcpt-To: <a@example\.net>\r\nX-Bridgehead-Rcpt-To: <b@example\.net>/);
});

test('curl: smtp:// upload with --mail-from/--mail-rcpt', { skip: tool('curl') }, async (t) => {
  const { relay, captured } = await captureRelay(t);
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const msg = join(dir, 'msg.txt');
  writeFileSync(
    msg,
    'From: monitor@example.com\r\nTo: ops@example.net\r\nSubject: disk full\r\n\r\n/var is at 99%\r\n',
  );
  const r = await run('curl', [
    '-sS',
    '-v',
    `smtp://127.0.0.1:${relay.port}`,
    '--mail-from',
    'monitor@example.com',
    '--mail-rcpt',
    'ops@example.net',
    '--upload-file',
    msg,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const id = /< 250 2\.0\.0 Ok: queued as (\S+)/.exec(r.stderr)?.[1];
  assert.ok(id, r.stderr);
  assert.match(await captured(id), /Subject: disk full/);
});

test(
  'the quick-start demo: swaks → relay on embedded defaults → sandbox tenant → alice@contoso.com Inbox',
  { skip: tool('swaks') },
  async (t) => {
    const relay = await startTestRelay(); // default route: the in-process sandbox tenant
    t.after(() => relay.cleanup());
    const r = await run('swaks', [
      '--server',
      `127.0.0.1:${relay.port}`,
      '--from',
      'scanner@contoso.com',
      '--to',
      'alice@contoso.com',
      '--header',
      'Subject: quick start',
    ]);
    assert.equal(r.code, 0, r.stdout);
    await waitFor(
      () => relay.sandbox!.state.folder('alice@contoso.com', 'Inbox').length === 1,
      'arrival in the sandbox Inbox',
    );
    const item = relay.sandbox!.state.folder('alice@contoso.com', 'Inbox')[0]!;
    assert.equal(item.subject, 'quick start');
    assert.equal(
      item.via,
      'submission',
      'client submission with an OAuth2 app token, as against a real tenant',
    );
    assert.equal(relay.sandbox!.state.folder('scanner@contoso.com', 'SentItems').length, 1);
    assert.match(item.raw.toString(), /^Received: from .*\s+by relay\.test \(Bridgehead\)/s);
  },
);
