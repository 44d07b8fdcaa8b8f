import assert from 'node:assert/strict';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';

import nodemailer from 'nodemailer';
import pgClient from 'pg';
import YAML from 'yaml';

import { hashPassword } from '../../src/auth/password.ts';
import { PostgresQueueStore } from '../../src/queue/postgres/store.ts';
import { bridgehead } from '../helpers/cli.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { queuedId, startTestRelay, tempDir, waitFor } from '../helpers/relay.ts';
import { RawSmtp } from '../helpers/smtp-client.ts';
import { message } from '../helpers/store-contract.ts';
import { startUpstream } from '../helpers/upstream.ts';

const pg = await startTestPostgres();
after(() => pg.stop());

test('two relay nodes on one PostgreSQL queue: mail accepted by either is delivered exactly once', async (t) => {
  const upstream = await startUpstream({ holdMs: 5 });
  t.after(() => upstream.close());
  const url = await pg.database();
  const node = () =>
    startTestRelay({
      store: { kind: 'postgres', url },
      routes: {
        default: { transport: { kind: 'smtp', host: '127.0.0.1', port: upstream.port, security: 'none' } },
      },
      delivery: { pollInterval: '1h' },
    });
  const a = await node();
  t.after(() => a.cleanup());
  const b = await node();
  t.after(() => b.cleanup());
  const sent: string[] = [];
  for (let i = 0; i < 40; i++) {
    const relay = i % 2 ? a : b;
    const device = nodemailer.createTransport({ host: '127.0.0.1', port: relay.port, ignoreTLS: true });
    const info = await device.sendMail({
      from: 'mfp@contoso.com',
      to: 'alice@contoso.com',
      subject: `scan ${i}`,
      text: 'x',
      messageId: `<scan-${i}@mfp>`,
    });
    device.close();
    sent.push(queuedId(info.response));
  }
  await waitFor(async () => (await a.store.stats()).done === 40, 'all delivered', 30_000);
  await new Promise((r) => setTimeout(r, 500));
  const ids = upstream.received.map((m) => /^Message-ID: (.*)$/im.exec(m.body.toString())?.[1]?.trim());
  assert.equal(upstream.received.length, 40, 'each message once, no double delivery');
  assert.equal(new Set(ids).size, 40);
  // Both nodes see the same queue.
  assert.equal((await b.store.get(sent[0]!))?.state, 'done');
  assert.equal((await a.store.list({ limit: 100 })).length, 40);
});

test('a message queued through one connection wakes listeners on another (LISTEN/NOTIFY), after the commit', async (t) => {
  const url = await pg.database();
  const nodeA = await PostgresQueueStore.open({ url });
  t.after(() => nodeA.close());
  const nodeB = await PostgresQueueStore.open({ url });
  t.after(() => nodeB.close());
  let woken = 0;
  const unsubscribe = await nodeB.subscribe(() => woken++);
  t.after(() => unsubscribe());
  await nodeA.enqueue(message());
  await waitFor(() => woken === 1, 'notification on the other node');
  assert.equal((await nodeB.list()).length, 1, 'and the row is visible when the notice arrives');
});

test('bridgehead migrate brings a PostgreSQL database to the schema; a missing URL is a configuration error', async (t) => {
  const url = await pg.database();
  const dir = tempDir('bh-migrate-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'bh.yaml');
  writeFileSync(cfg, YAML.stringify({ relay: { dataDir: dir }, store: { kind: 'postgres', url } }));
  const r = await bridgehead(['migrate', '-c', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /queue database \(postgres\) is at this version's schema/);
  const c = new pgClient.Client({ connectionString: url });
  await c.connect();
  t.after(() => c.end());
  const latest = Math.max(
    ...readdirSync(new URL('../../src/queue/postgres/migrations/', import.meta.url)).map((f) =>
      Number(f.slice(0, 4)),
    ),
  );
  assert.ok(latest >= 2);
  assert.equal((await c.query('SELECT max(version) AS v FROM schema_migrations')).rows[0].v, latest);
  // The shared budget ledger's tables are there (migration 0002).
  assert.equal((await c.query('SELECT count(*)::int AS n FROM budget_spends')).rows[0].n, 0);
  writeFileSync(cfg, YAML.stringify({ relay: { dataDir: dir }, store: { kind: 'postgres' } }));
  const bad = await bridgehead(['migrate', '-c', cfg]);
  assert.equal(bad.code, 78);
  assert.match(bad.stderr, /store\.url: kind postgres needs the connection URL/);
});

test('a device budget is shared by the nodes: rate 3 a minute through two nodes allows 3 in all', async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.close());
  const url = await pg.database();
  const node = () =>
    startTestRelay({
      store: { kind: 'postgres', url },
      clients: [{ name: 'mfp', match: { addresses: ['127.0.0.0/8'] }, recipients: 'any', rate: 3 }],
      routes: {
        default: { transport: { kind: 'smtp', host: '127.0.0.1', port: upstream.port, security: 'none' } },
      },
    });
  const a = await node();
  t.after(() => a.cleanup());
  const b = await node();
  t.after(() => b.cleanup());
  const replies: string[] = [];
  for (let i = 0; i < 6; i++) {
    const device = nodemailer.createTransport({
      host: '127.0.0.1',
      port: (i % 2 ? a : b).port,
      ignoreTLS: true,
    });
    replies.push(
      await device
        .sendMail({ from: 'mfp@contoso.com', to: 'alice@contoso.com', text: 'x' })
        .then(
          (info) => info.response,
          (err: { response?: string }) => err.response ?? String(err),
        )
        .finally(() => device.close()),
    );
  }
  assert.equal(replies.filter((r) => r.startsWith('250 ')).length, 3, replies.join('\n'));
  // Each node alone would have allowed three of its own: the fourth is refused wherever it lands.
  assert.match(replies[3]!, /^450 4\.7\.1 Rate limit: this client may send 3 messages a minute/);
  assert.equal(replies.filter((r) => r.startsWith('450 4.7.1')).length, 3);
});

test('failed logins count across the nodes: three spread over two nodes lock the address out on both', async (t) => {
  const url = await pg.database();
  const users = { scan01: await hashPassword('pr1nter!', 12) };
  const node = () =>
    startTestRelay({
      store: { kind: 'postgres', url },
      users,
      listeners: [{ name: 'lan', host: '127.0.0.1', port: 0, allowPlainAuth: true }],
      clients: [{ name: 'scanners', match: { users: ['scan01'] } }],
      auth: { maxFailures: 3, failureWindow: '1m', lockout: '1m' },
    });
  const a = await node();
  t.after(() => a.cleanup());
  const b = await node();
  t.after(() => b.cleanup());
  const wrong = `AUTH PLAIN ${Buffer.from('\0scan01\0wrong').toString('base64')}`;
  const tryOnce = async (port: number) => {
    const c = await RawSmtp.connect(port);
    try {
      const greeting = await c.reply();
      if (!greeting.startsWith('220 ')) return greeting;
      await c.command('EHLO mfp.lan');
      return await c.command(wrong);
    } finally {
      c.close();
    }
  };
  // Each node alone has seen fewer than three: only counted together do they lock.
  assert.match(await tryOnce(a.port), /^535 5\.7\.8 /);
  assert.match(await tryOnce(b.port), /^535 5\.7\.8 /);
  assert.match(await tryOnce(a.port), /^421 4\.7\.0 Too many failed logins from 127\.0\.0\.1/);
  assert.match(
    await tryOnce(b.port),
    /^421 4\.7\.0 Too many failed logins from 127\.0\.0\.1/,
    'at connect on the other node',
  );
});
