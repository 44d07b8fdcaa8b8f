import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';

import nodemailer from 'nodemailer';
import pgClient from 'pg';

import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { DEMO } from '../../src/sandbox/tenant.ts';
import { type ChildRelay, startChildRelay, writeConfig } from '../helpers/child-relay.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { tempDir, waitFor } from '../helpers/relay.ts';

const pg = await startTestPostgres();
after(() => pg.stop());

const NODES = 3;
const MESSAGES = 40;
const PER_MINUTE = 30;

/**
 * Three relay processes on one PostgreSQL queue send for one Microsoft 365 mailbox through the
 * sandbox's smtp.office365.com, in real time. Together they must stay within the mailbox's 30
 * messages a minute and three connections: the sandbox carries nothing over and refuses no
 * connection, no minute of its Sent Items holds more than 30, and the ten over the budget wait
 * in the queue (throttled) and leave a minute later. Each node counting on its own would let
 * all 40 go at once (checked: the test then fails).
 */
test('three nodes on one database share a mailbox budget: at most 30 messages a minute in all', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const url = await pg.database();
  const dir = tempDir('bh-budget-nodes-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Each node would open Exchange's three connections for the mailbox on its own; counted in
  // the shared ledger, the three nodes together hold three (a fourth would get 432 4.3.2).
  const nodes = await startNodes(t, sb, url, dir, {
    methods: ['submission'],
    submission: { host: '127.0.0.1', port: sb.submission.port, servername: 'smtp.office365.com' },
  });

  const started = Date.now();
  for (let i = 0; i < MESSAGES; i++) {
    const device = nodemailer.createTransport({
      host: '127.0.0.1',
      port: nodes[i % NODES]!.port,
      ignoreTLS: true,
    });
    try {
      const info = await device.sendMail({
        from: 'scanner@contoso.com',
        to: 'alice@contoso.com',
        subject: `scan ${i}`,
        messageId: `<budget-${i}@mfp>`,
        text: 'x',
      });
      assert.match(info.response, /^250 /);
    } finally {
      device.close();
    }
  }

  const sent = () => sb.state.folder('scanner@contoso.com', 'SentItems');
  await waitFor(() => sent().length >= MESSAGES, `all ${MESSAGES} in Sent Items`, 120_000);
  const times = sent()
    .map((m) => m.receivedAt)
    .sort((a, b) => a - b);
  const busiestMinute = Math.max(
    ...times.map((t0) => times.filter((x) => x >= t0 && x < t0 + 60_000).length),
  );
  assert.equal(sb.state.carriedOver, 0, 'Exchange carried nothing over: the relay never sent a 31st');
  assert.ok(
    busiestMinute <= PER_MINUTE,
    `${busiestMinute} messages within one minute (at most ${PER_MINUTE})`,
  );
  assert.ok(times.at(-1)! - started >= 60_000, 'the ten over the budget waited for the next minute');
  const ids = sent().map((m) => m.messageId);
  assert.equal(new Set(ids).size, MESSAGES, 'each message once');

  const db = new pgClient.Client({ connectionString: url });
  await db.connect();
  t.after(() => db.end());
  const q = async (sql: string) => (await db.query(sql)).rows[0].n as number;
  assert.equal(
    await q(`SELECT count(*)::int AS n FROM attempts WHERE outcome <> 'delivered'`),
    0,
    'no 432, no deferral',
  );
  assert.ok(
    (await q(`SELECT count(DISTINCT message_id)::int AS n FROM trace_events WHERE event = 'Throttle'`)) >=
      MESSAGES - PER_MINUTE,
    'the excess waited throttled in the shared queue',
  );
  const delivering = nodes.filter((n) => /"msg":"delivery:attempt"/.test(n.output())).length;
  assert.ok(delivering >= 2, `deliveries spread over the nodes (${delivering} of ${NODES} delivered)`);
});

/** NODES relay processes on one database, each sending through the sandbox tenant by `methods`. */
async function startNodes(
  t: TestContext,
  sb: Sandbox,
  url: string,
  dir: string,
  transport: Record<string, unknown>,
): Promise<ChildRelay[]> {
  const ca = join(dir, 'sandbox-ca.pem');
  writeFileSync(ca, sb.caPem);
  const nodes: ChildRelay[] = [];
  for (let n = 0; n < NODES; n++) {
    const nodeDir = mkdirp(join(dir, `node-${n}`));
    const relay = await startChildRelay(
      writeConfig(nodeDir, {
        relay: { dataDir: join(nodeDir, 'data'), hostname: `node-${n}.test` },
        listeners: [{ host: '127.0.0.1', port: 0 }],
        store: { kind: 'postgres', url },
        microsoft365: {
          tenants: {
            contoso: {
              tenantId: DEMO.tenantId,
              clientId: DEMO.clientId,
              clientSecret: DEMO.clientSecret,
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
              graph: { baseUrl: sb.http.url, saveToSentItems: true },
              ...transport,
            },
          },
        },
        delivery: { retrySchedule: '5s', pollInterval: '1s' },
        bounces: { enabled: false },
        log: { level: 'info', format: 'json' },
      }),
      150_000,
    );
    t.after(() => relay.child.kill('SIGKILL'));
    nodes.push(relay);
  }
  return nodes;
}

function mkdirp(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}

/**
 * Graph takes four requests at once per app (facts §5; the sandbox answers a fifth with 429).
 * Three nodes, each of which alone would send four, send twelve slow requests together: with
 * the slots counted in the shared database no request is ever refused.
 */
test('three nodes share Graph concurrency: twelve slow sends at once, never more than four in flight, no 429', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  sb.faults.graphDelayMs = 400;
  const url = await pg.database();
  const dir = tempDir('bh-graph-nodes-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const nodes = await startNodes(t, sb, url, dir, { methods: ['graph'] });
  await Promise.all(
    Array.from({ length: 12 }, async (_, i) => {
      const device = nodemailer.createTransport({
        host: '127.0.0.1',
        port: nodes[i % NODES]!.port,
        ignoreTLS: true,
      });
      try {
        await device.sendMail({
          from: 'scanner@contoso.com',
          to: 'alice@contoso.com',
          subject: `g${i}`,
          messageId: `<graph-${i}@mfp>`,
          text: 'x',
        });
      } finally {
        device.close();
      }
    }),
  );
  await waitFor(
    () => sb.state.folder('alice@contoso.com', 'Inbox').length >= 12,
    'all twelve delivered',
    60_000,
  );
  const db = new pgClient.Client({ connectionString: url });
  await db.connect();
  t.after(() => db.end());
  const refused = await db.query(`SELECT reply FROM attempts WHERE outcome <> 'delivered'`);
  assert.deepEqual(
    refused.rows.map((r) => r.reply),
    [],
    'no attempt was refused (no 429)',
  );
  assert.equal(new Set(sb.state.folder('alice@contoso.com', 'Inbox').map((m) => m.messageId)).size, 12);
  assert.equal(
    (await db.query('SELECT count(*)::int AS n FROM budget_slots')).rows[0].n,
    0,
    'every slot given back',
  );
});
