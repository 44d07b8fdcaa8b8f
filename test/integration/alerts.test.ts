import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';

import { startTestRelay, waitFor } from '../helpers/relay.ts';
import { RawSmtp } from '../helpers/smtp-client.ts';

test('a refusal spike raises one alert: to the webhook as JSON, as mail to the admin through the queue, and in the log event', async (t) => {
  const received: Record<string, unknown>[] = [];
  const hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body) as Record<string, unknown>);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => hook.close(() => r())));
  const relay = await startTestRelay({
    routes: { default: { transport: { kind: 'smtp', host: '127.0.0.1', port: 9, security: 'none' } } },
    delivery: { retrySchedule: '1h' },
    clients: [{ name: 'printers', senders: ['@contoso.com'] }],
    alerts: {
      refusalsPer5m: 5,
      webhook: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`,
      email: 'helpdesk@contoso.com',
    },
  });
  t.after(() => relay.cleanup());
  const raised: string[] = [];
  relay.events.on('alert:raised', (e) => raised.push(`${e.kind} ${e.subject}`));
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  await c.command('EHLO misconfigured');
  for (let i = 0; i < 8; i++)
    assert.match(await c.command(`MAIL FROM:<spoof${i}@fabrikam.com>`), /^550 5\.7\.1 /);
  await waitFor(() => received.length === 1, 'the webhook call');
  assert.deepEqual(raised, ['refusals 127.0.0.1'], 'once, not once per refusal');
  const alert = received[0]!;
  assert.equal(alert.source, 'bridgehead');
  assert.equal(alert.kind, 'refusals');
  assert.equal(alert.subject, '127.0.0.1');
  assert.match(
    String(alert.summary),
    /^5 refusals for 127\.0\.0\.1 in five minutes; last: 550 5\.7\.1 spoof4@fabrikam\.com/,
  );
  const mail = await waitFor(
    async () => (await relay.store.list()).find((m) => m.client.rule === 'alert'),
    'the alert mail',
  );
  assert.deepEqual(
    mail.recipients.map((r) => r.address),
    ['helpdesk@contoso.com'],
  );
  assert.equal(mail.mailFrom, '');
  assert.match(
    (await relay.store.readBody(mail.id)).toString(),
    /^Subject: \[Bridgehead\] refusals: 127\.0\.0\.1\r$/m,
  );
});
