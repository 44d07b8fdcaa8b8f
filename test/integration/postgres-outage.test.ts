import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import nodemailer from 'nodemailer';

import { startTestPostgres } from '../helpers/postgres.ts';
import { queuedId, startTestRelay, waitFor } from '../helpers/relay.ts';
import { startUpstream } from '../helpers/upstream.ts';

const pg = await startTestPostgres();
after(() => pg.stop());

async function send(port: number, tag: string) {
  const device = nodemailer.createTransport({ host: '127.0.0.1', port, ignoreTLS: true });
  try {
    return await device.sendMail({
      from: 'mfp@contoso.com',
      to: 'alice@example.net',
      subject: tag,
      messageId: `<${tag}@mfp>`,
      text: 'x',
    });
  } finally {
    device.close();
  }
}

/**
 * The database goes away under a running relay and comes back. While it is away a device gets
 * 451 4.3.0 (retry later), never a 250 it cannot keep; the message acknowledged before the
 * outage is still delivered after it, and the relay takes and delivers new mail again without
 * a restart.
 */
test(
  'PostgreSQL unreachable: new mail gets 451 4.3.0, nothing acknowledged is lost, the relay recovers',
  { skip: pg.outage ? false : 'needs the embedded server (an external one cannot be stopped here)' },
  async (t) => {
    let upstreamUp = false;
    const upstream = await startUpstream({ dataReply: () => (upstreamUp ? null : '451 4.4.0 not now') });
    t.after(() => upstream.close());
    const url = await pg.database();
    const relay = await startTestRelay({
      store: { kind: 'postgres', url },
      routes: {
        default: { transport: { kind: 'smtp', host: '127.0.0.1', port: upstream.port, security: 'none' } },
      },
      delivery: { retrySchedule: '300ms', pollInterval: '300ms' },
      bounces: { enabled: false },
    });
    t.after(() => relay.cleanup());

    const before = queuedId((await send(relay.port, 'before-outage')).response);
    await waitFor(
      async () => ((await relay.store.get(before))?.attempts ?? 0) >= 1,
      'a first, deferred attempt',
    );

    await pg.outage!.down();
    const refused = await send(relay.port, 'during-outage').then(
      () => null,
      (err: { responseCode?: number; response?: string }) => err,
    );
    assert.ok(refused, 'no 250 while the queue cannot be written');
    assert.equal(refused.responseCode, 451);
    assert.match(refused.response ?? '', /^451 4\.3\.0 /);
    // The relay itself is still there: a new session is greeted and answered.
    const again = await send(relay.port, 'during-outage-2').catch((err: { responseCode?: number }) => err);
    assert.equal((again as { responseCode?: number }).responseCode, 451);

    // A load balancer probing /readyz takes the node out of rotation meanwhile.
    const readyz = () => fetch(`http://127.0.0.1:${relay.admin!.port}/readyz`);
    const down = await readyz();
    assert.equal(down.status, 503);
    assert.notEqual(((await down.json()) as { checks: { store: string } }).checks.store, 'ok');

    await pg.outage!.up();
    upstreamUp = true;
    const later = await waitFor(
      () => send(relay.port, 'after-outage').catch(() => null),
      'mail accepted again once the database is back',
      30_000,
    );
    assert.match(later.response, /^250 /);
    assert.equal((await readyz()).status, 200);
    const subjects = () =>
      upstream.received.map((m) => /^Subject: (.*)$/im.exec(m.body.toString())?.[1]?.trim());
    await waitFor(
      () => subjects().includes('before-outage') && subjects().includes('after-outage'),
      'the message acknowledged before the outage and the one after it, delivered',
      30_000,
    );
    assert.ok(!subjects().includes('during-outage'), 'what got 451 was never queued');
    assert.equal(subjects().filter((s) => s === 'before-outage').length, 1);
  },
);
