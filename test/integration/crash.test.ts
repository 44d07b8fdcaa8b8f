import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import nodemailer from 'nodemailer';

import { type ChildRelay, startChildRelay, writeConfig } from '../helpers/child-relay.ts';
import { tempDir, waitFor } from '../helpers/relay.ts';
import { startUpstream } from '../helpers/upstream.ts';

const KILLS = 4;
const SENDERS = 6;

/**
 * Nothing acknowledged is lost: a relay child under load is killed with SIGKILL several times
 * and restarted on the same spool; every message that got a 250 must reach the upstream
 * (counted by Message-ID). Duplicates are allowed (a kill between upstream acceptance and the
 * store update resends), losses are not.
 */
test('kill -9 under load loses no acknowledged message', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const upstream = await startUpstream();
  t.after(() => upstream.close());
  const config = writeConfig(dir, {
    relay: { dataDir: join(dir, 'data'), hostname: 'crash.test' },
    listeners: [{ host: '127.0.0.1', port: 0 }],
    routes: {
      default: {
        concurrency: 4,
        transport: { kind: 'smtp', host: '127.0.0.1', port: upstream.port, security: 'none' },
      },
    },
    delivery: { retrySchedule: '200ms', leaseTime: '1h' },
    log: { level: 'info', format: 'json' },
  });

  const acked = new Set<string>();
  let attempted = 0;
  let relay: ChildRelay = await startChildRelay(config);
  t.after(() => relay.child.kill('SIGKILL'));
  let stop = false;

  // Each sender opens a new connection per message, as printers do, and records only 250s.
  const sender = async (n: number) => {
    let i = 0;
    while (!stop) {
      const messageId = `<crash-${n}-${i++}@test>`;
      attempted++;
      const device = nodemailer.createTransport({
        host: '127.0.0.1',
        port: relay.port,
        ignoreTLS: true,
        connectionTimeout: 2000,
        socketTimeout: 5000,
      });
      try {
        const info = await device.sendMail({
          from: 'dev@example.com',
          to: 'rcpt@example.net',
          messageId,
          subject: 'crash',
          text: 'x'.repeat(200),
        });
        if (/^250 /.test(info.response)) acked.add(messageId);
      } catch {
        await new Promise((r) => setTimeout(r, 20)); // relay down: the device retries later
      } finally {
        device.close();
      }
    }
  };
  const senders = Array.from({ length: SENDERS }, (_, n) => sender(n));

  for (let k = 0; k < KILLS; k++) {
    await new Promise((r) => setTimeout(r, 400 + Math.floor(Math.random() * 600)));
    relay.child.kill('SIGKILL');
    await relay.exited;
    relay = await startChildRelay(config);
  }
  await new Promise((r) => setTimeout(r, 500));
  stop = true;
  await Promise.all(senders);

  const arrivedIds = () =>
    new Set(upstream.received.map((m) => /^Message-ID: (<[^>]+>)/im.exec(m.body.toString())?.[1]));
  await waitFor(
    () => [...acked].every((id) => arrivedIds().has(id)),
    `all ${acked.size} acknowledged messages upstream`,
    60_000,
  ).catch(() => undefined);
  const arrived = arrivedIds();
  const lost = [...acked].filter((id) => !arrived.has(id));
  assert.ok(acked.size >= 50, `enough load to mean something (acked ${acked.size} of ${attempted})`);
  assert.deepEqual(lost, [], `${lost.length} acknowledged messages lost`);

  relay.child.kill('SIGTERM');
  assert.equal(await relay.exited, 0, 'the last relay stops cleanly on SIGTERM');
});
