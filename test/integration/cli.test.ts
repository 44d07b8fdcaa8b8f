import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import YAML from 'yaml';

import { verifyPassword } from '../../src/auth/password.ts';
import { bridgehead } from '../helpers/cli.ts';
import { startTestRelay, tempDir, waitFor } from '../helpers/relay.ts';

test('--help works for every command and an unknown command exits 2', async () => {
  for (const cmd of [[], ['start'], ['queue'], ['send-test'], ['config'], ['passwd']]) {
    const r = await bridgehead([...cmd, '--help']);
    assert.equal(r.code, 0, `${cmd.join(' ')} --help: ${r.stderr}`);
    assert.match(r.stdout, /^Usage: bridgehead/);
  }
  const bad = await bridgehead(['frobnicate']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown command "frobnicate"/);
  const badFlag = await bridgehead(['queue', 'list', '--bogus']);
  assert.equal(badFlag.code, 2);
});

test('config check exits 0 for a valid file and 78 with every problem for an invalid one; print redacts secrets', async () => {
  const dir = tempDir();
  const good = join(dir, 'good.yaml');
  writeFileSync(
    good,
    YAML.stringify({
      relay: { dataDir: join(dir, 'data') },
      routes: {
        default: {
          transport: { kind: 'smtp', host: 'smtp.example.net', auth: { user: 'u', pass: 'TopSecret!' } },
        },
      },
    }),
  );
  const ok = await bridgehead(['config', 'check', '-c', good]);
  assert.equal(ok.code, 0, ok.stderr);
  const printed = await bridgehead(['config', 'print', '-c', good, '--json']);
  assert.equal(printed.code, 0);
  assert.ok(!printed.stdout.includes('TopSecret!'));
  const effective = JSON.parse(printed.stdout) as {
    routes: { default: { transport: { auth: { pass: string } } } };
    limits: { maxRecipients: number };
  };
  assert.equal(effective.routes.default.transport.auth.pass, '[redacted]');
  assert.equal(effective.limits.maxRecipients, 100, 'defaults are shown');
  const viaEnv = await bridgehead(['config', 'print', '-c', good, '--json'], {
    env: { BRIDGEHEAD_LIMITS__MAX_RECIPIENTS: '7' },
  });
  assert.equal((JSON.parse(viaEnv.stdout) as { limits: { maxRecipients: number } }).limits.maxRecipients, 7);

  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'limits:\n  maxRecipients: lots\n  idleTimeout: forever\n');
  const r = await bridgehead(['config', 'check', '-c', bad]);
  assert.equal(r.code, 78);
  assert.match(r.stderr, /limits\.maxRecipients/);
  assert.match(r.stderr, /limits\.idleTimeout/);
});

test('send-test, then queue list/show/stats/retry/delete on the same spool', async (t) => {
  const dataDir = tempDir();
  const relay = await startTestRelay(
    {
      routes: { default: { transport: { kind: 'smtp', host: '127.0.0.1', port: 9, security: 'none' } } },
      delivery: { retrySchedule: '1h' },
    },
    dataDir,
  );
  t.after(() => relay.cleanup());
  const cfg = join(dataDir, 'cli.yaml');
  writeFileSync(
    cfg,
    YAML.stringify({ relay: { dataDir }, listeners: [{ host: '127.0.0.1', port: relay.port }] }),
  );

  const sent = await bridgehead([
    'send-test',
    '-c',
    cfg,
    '--from',
    'scanner@contoso.com',
    '--to',
    'alice@contoso.com,bob@contoso.com',
  ]);
  assert.equal(sent.code, 0, sent.stderr);
  const id = /^250 2\.0\.0 Ok: queued as (\S+)$/m.exec(sent.stdout)![1]!;
  await waitFor(async () => (await relay.store.get(id))?.attempts === 1, 'first (failing) attempt');

  const list = await bridgehead(['queue', 'list', '-c', cfg, '--json']);
  assert.equal(list.code, 0, list.stderr);
  const rows = JSON.parse(list.stdout) as { id: string; state: string; recipients: { state: string }[] }[];
  assert.deepEqual(
    rows.map((r) => [r.id, r.state]),
    [[id, 'active']],
  );
  assert.deepEqual(
    rows[0]!.recipients.map((r) => r.state),
    ['deferred', 'deferred'],
  );

  const table = await bridgehead(['queue', 'list', '-c', cfg]);
  assert.match(table.stdout, new RegExp(`^${id} .* active +scanner@contoso\\.com +2 deferred`, 'm'));

  const show = await bridgehead(['queue', 'show', id, '-c', cfg]);
  assert.equal(show.code, 0);
  assert.match(show.stdout, /alice@contoso\.com +deferred +1 +ESOCKET: connect ECONNREFUSED/);
  assert.match(show.stdout, /^ {2}client {7}rule loopback, no TLS$/m);

  const stats = JSON.parse((await bridgehead(['queue', 'stats', '-c', cfg, '--json'])).stdout) as {
    active: number;
    recipients: { deferred: number };
  };
  assert.equal(stats.active, 1);
  assert.equal(stats.recipients.deferred, 2);

  const before = (await relay.store.get(id))!.nextAttemptAt;
  assert.ok(before > Date.now() + 30 * 60_000);
  assert.equal((await bridgehead(['queue', 'retry', id, '-c', cfg])).code, 0);
  await waitFor(async () => ((await relay.store.get(id))?.attempts ?? 0) >= 2, 'retry now runs an attempt');

  assert.equal((await bridgehead(['queue', 'show', 'NOSUCHID', '-c', cfg])).code, 1);
  assert.equal((await bridgehead(['queue', 'delete', id, '-c', cfg])).code, 0);
  assert.equal(await relay.store.get(id), null);
  assert.equal((await bridgehead(['queue', 'delete', id, '-c', cfg])).code, 1);
});

test('send-test exits 1 and prints the refusal when the relay says no', async (t) => {
  const relay = await startTestRelay({ limits: { maxMessageSize: '100' } });
  t.after(() => relay.cleanup());
  const r = await bridgehead([
    'send-test',
    '--server',
    `127.0.0.1:${relay.port}`,
    '--from',
    'a@example.com',
    '--to',
    'b@example.net',
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /552 5\.3\.4 Message too big/);
});

test('passwd prints a users line whose hash verifies, and the relay accepts that login', async (t) => {
  const r = await bridgehead(['passwd', 'scan01'], { input: 'pr1nter!\n' });
  assert.equal(r.code, 0, r.stderr);
  const m = /^scan01: '(\$scrypt\$[^']+)'\n$/.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.equal(await verifyPassword('pr1nter!', m[1]!), true);
  assert.equal(await verifyPassword('printer', m[1]!), false);
  const parsed = YAML.parse(r.stdout) as Record<string, string>;
  const relay = await startTestRelay({
    users: parsed,
    listeners: [{ host: '127.0.0.1', port: 0, allowPlainAuth: true }],
    clients: [{ name: 'scanners', match: { users: ['scan01'] } }],
  });
  t.after(() => relay.cleanup());
  const args = [
    'send-test',
    '--server',
    `127.0.0.1:${relay.port}`,
    '--from',
    'scan@contoso.com',
    '--to',
    'a@contoso.com',
  ];
  const anon = await bridgehead(args);
  assert.equal(anon.code, 1, 'without the login the relay says 530');
  assert.match(anon.stdout + anon.stderr, /530 5\.7\.0/);
  const login = await bridgehead([...args, '--user', 'scan01'], { env: { BRIDGEHEAD_PASSWORD: 'pr1nter!' } });
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stdout, /^250 2\.0\.0 Ok: queued as /);
  assert.equal((await bridgehead(['passwd', 'a b'], { input: 'x\n' })).code, 2);
  assert.equal((await bridgehead(['passwd'], { input: '\n' })).code, 1, 'an empty password is refused');
});

test('queue hold / release / bounce / delete by id and by selector; list shows held; no selector, no bulk change', async (t) => {
  const relay = await startTestRelay({
    routes: { default: { transport: { kind: 'smtp', host: '127.0.0.1', port: 9, security: 'none' } } },
    delivery: { retrySchedule: '1h' },
  });
  t.after(() => relay.cleanup());
  const cfg = join(relay.dataDir, 'bh.yaml');
  writeFileSync(cfg, YAML.stringify({ relay: { dataDir: relay.dataDir } }));
  const sent: string[] = [];
  for (const [from, to] of [
    ['mfp@contoso.com', 'a@contoso.com'],
    ['erp@contoso.com', 'x@fabrikam.com'],
    ['erp@contoso.com', 'y@contoso.com'],
  ] as const) {
    const r = await bridgehead([
      'send-test',
      '--server',
      `127.0.0.1:${relay.port}`,
      '--from',
      from,
      '--to',
      to,
    ]);
    sent.push(/queued as (\S+)/.exec(r.stdout)![1]!);
  }
  await waitFor(async () => (await relay.store.list()).every((m) => m.attempts >= 1), 'first attempts');
  const q = (...args: string[]) => bridgehead(['queue', ...args, '-c', cfg]);

  assert.equal((await q('hold')).code, 2, 'no id and no selector: usage error');
  const held = await q('hold', '--sender', 'ERP@contoso.com');
  assert.equal(held.code, 0, held.stderr);
  assert.match(held.stdout, /^2 messages held$/m);
  const list = await q('list', '--state', 'held');
  assert.equal(list.stdout.trim().split('\n').length, 3, list.stdout);
  assert.match(list.stdout, / held +erp@contoso\.com /);
  assert.equal((await relay.store.stats()).held, 2);
  assert.match((await q('release', sent[2]!)).stdout, new RegExp(`^${sent[2]} released$`, 'm'));
  assert.equal((await relay.store.get(sent[2]!))!.held, false);

  const bounced = await q('bounce', '--domain', 'fabrikam.com', '--json');
  assert.deepEqual(JSON.parse(bounced.stdout), { ok: true, bounced: [sent[1]] });
  const m = (await relay.store.get(sent[1]!))!;
  assert.equal(m.state, 'done');
  assert.equal(m.recipients[0]!.state, 'failed');
  assert.equal(m.history.at(-1)!.category, 'operator');
  const dsn = (await relay.store.list()).find((x) => x.mailFrom === '');
  assert.ok(dsn, 'a bounce to the sender was queued');
  assert.deepEqual(
    dsn.recipients.map((r) => r.address),
    ['erp@contoso.com'],
  );
  assert.match((await relay.store.readBody(dsn.id)).toString(), /Returned by the relay operator/);

  assert.equal((await q('delete', '--route', 'default', '--sender', 'mfp@contoso.com')).code, 0);
  assert.equal(await relay.store.get(sent[0]!), null);
  assert.equal((await q('bounce', 'NOSUCHID')).code, 1);
  const stats = await q('stats');
  assert.match(stats.stdout, /^active messages {2}\d+/m);
});
