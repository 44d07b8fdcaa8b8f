import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import nodemailer from 'nodemailer';

import { startTestPostgres } from '../helpers/postgres.ts';
import { queuedId, startTestRelay, waitFor } from '../helpers/relay.ts';
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
      delivery: { pollInterval: '200ms' },
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
