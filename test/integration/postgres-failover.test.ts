import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';

import nodemailer from 'nodemailer';

import { type ChildRelay, startChildRelay, writeConfig } from '../helpers/child-relay.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { tempDir, waitFor } from '../helpers/relay.ts';
import { startUpstream } from '../helpers/upstream.ts';

const pg = await startTestPostgres();
after(() => pg.stop());

const SENDERS = 6;
const CONCURRENCY = 4;

/**
 * Three relay processes share one PostgreSQL queue; devices send to all of them, as through a
 * load balancer. One node is killed with SIGKILL under load: the others deliver everything the
 * dead one had acknowledged, once its leases expire. Then it comes back and takes its share
 * again without sending what the others finished. A message the dead node had handed upstream
 * but not yet recorded may go twice (SMTP has no two-phase commit): at most one per delivery
 * slot of the dead node.
 */
test('three nodes on PostgreSQL: one killed with SIGKILL under load and restarted; every acknowledged message delivered', async (t) => {
  const url = await pg.database();
  const upstream = await startUpstream();
  t.after(() => upstream.close());
  const node = async (name: string) => {
    const dir = tempDir(`bh-node-${name}-`);
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    return startChildRelay(
      writeConfig(dir, {
        relay: { dataDir: join(dir, 'data'), hostname: `node-${name}.test` },
        listeners: [{ host: '127.0.0.1', port: 0 }],
        store: { kind: 'postgres', url },
        routes: {
          default: {
            concurrency: CONCURRENCY,
            transport: { kind: 'smtp', host: '127.0.0.1', port: upstream.port, security: 'none' },
          },
        },
        delivery: { retrySchedule: '200ms', leaseTime: '2s', pollInterval: '200ms' },
        log: { level: 'info', format: 'json' },
      }),
    );
  };
  let a: ChildRelay = await node('a');
  t.after(() => a.child.kill('SIGKILL'));
  const b: ChildRelay = await node('b');
  t.after(() => b.child.kill('SIGKILL'));
  const c: ChildRelay = await node('c');
  t.after(() => c.child.kill('SIGKILL'));
  let aAlive = true;

  const acked = new Set<string>();
  let stop = false;
  const sender = async (n: number) => {
    let i = 0;
    while (!stop) {
      const messageId = `<failover-${n}-${i++}@test>`;
      // Devices are spread over the nodes; while a is gone its devices fail over to b, as a load balancer would.
      const port = n % 3 === 0 ? (aAlive ? a.port : b.port) : n % 3 === 1 ? b.port : c.port;
      const device = nodemailer.createTransport({
        host: '127.0.0.1',
        port,
        ignoreTLS: true,
        connectionTimeout: 2000,
      });
      try {
        const info = await device.sendMail({
          from: 'dev@example.com',
          to: 'rcpt@example.net',
          messageId,
          text: 'x',
        });
        if (/^250 /.test(info.response)) acked.add(messageId);
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      } finally {
        device.close();
      }
    }
  };
  const senders = Array.from({ length: SENDERS }, (_, n) => sender(n));
  await new Promise((r) => setTimeout(r, 1500));
  aAlive = false;
  a.child.kill('SIGKILL');
  await a.exited;
  await new Promise((r) => setTimeout(r, 1000));
  // The node comes back (its own new lease owner name) and takes load again.
  const restarted = await node('a');
  a = restarted;
  aAlive = true;
  await new Promise((r) => setTimeout(r, 1000));
  stop = true;
  await Promise.all(senders);

  const arrived = () => upstream.received.map((m) => /^Message-ID: (<[^>]+>)/im.exec(m.body.toString())?.[1]);
  await waitFor(
    () => [...acked].every((id) => arrived().includes(id)),
    `all ${acked.size} acknowledged messages upstream`,
    30_000,
  ).catch(() => undefined);
  const got = arrived();
  const lost = [...acked].filter((id) => !got.includes(id));
  assert.ok(acked.size >= 40, `enough load to mean something (acked ${acked.size})`);
  assert.deepEqual(lost, [], `${lost.length} acknowledged messages lost`);
  assert.match(a.output(), /"msg":"smtp:accepted"/, 'the node that came back took mail again');
  const twice = got.length - new Set(got).size;
  assert.ok(twice <= CONCURRENCY, `${twice} sent twice: at most the dead node's in-flight deliveries`);
});
