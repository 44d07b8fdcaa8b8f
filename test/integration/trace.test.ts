import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import YAML from 'yaml';

import { bridgehead } from '../helpers/cli.ts';
import { queuedId, startTestRelay, untilMessage, waitFor } from '../helpers/relay.ts';
import { RawSmtp } from '../helpers/smtp-client.ts';
import { startUpstream } from '../helpers/upstream.ts';

test('the trace follows a message from the device to the upstream and back, and keeps the refusals', async (t) => {
  const upstream = await startUpstream({
    rcptReply: (a) => (a.startsWith('nobody@') ? '550 5.1.1 User unknown' : null),
  });
  t.after(() => upstream.close());
  const relay = await startTestRelay({
    routes: {
      default: { transport: { kind: 'smtp', host: '127.0.0.1', port: upstream.port, security: 'none' } },
    },
    clients: [{ name: 'printers', match: { addresses: ['127.0.0.0/8'] }, senders: ['@contoso.com'] }],
  });
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  await c.command('EHLO mfp-3');
  assert.match(await c.command('MAIL FROM:<ceo@fabrikam.com>'), /^550 5\.7\.1 /);
  const id = queuedId(
    await c.transaction(
      'mfp@contoso.com',
      ['alice@contoso.com', 'nobody@contoso.com'],
      'Message-ID: <scan-77@mfp>\r\nSubject: scan\r\n',
    ),
  );
  await untilMessage(relay.store, id, (m) => m.state === 'done', 'done');
  await waitFor(() => upstream.received.some((m) => m.from === ''), 'the bounce');

  const cfg = join(relay.dataDir, 'bh.yaml');
  writeFileSync(cfg, YAML.stringify({ relay: { dataDir: relay.dataDir } }));
  const trace = async (...args: string[]) => {
    const r = await bridgehead(['trace', ...args, '-c', cfg]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const rows = JSON.parse(await trace('--sender', '*@contoso.com', '--json')) as {
    recipient: string;
    status: string;
    device: string;
  }[];
  assert.deepEqual(
    rows.map((r) => [r.recipient, r.status, r.device]),
    [
      ['alice@contoso.com', 'Delivered', 'printers'],
      ['nobody@contoso.com', 'Failed', 'printers'],
    ],
  );
  assert.equal(
    JSON.parse(await trace('--status', 'failed', '--message-id', 'scan-77@mfp', '--json')).length,
    1,
  );
  const csv = await trace('--recipient', 'nobody@*', '--csv');
  assert.match(csv, /^received,status,sender,recipient,queueId,client,device,lastReply\n/);
  assert.match(
    csv,
    /,Failed,mfp@contoso\.com,nobody@contoso\.com,[^,]+,127\.0\.0\.1,printers,550 5\.1\.1 User unknown\n$/,
  );

  const events = JSON.parse(await trace(id, '--json')) as { event: string; detail: string }[];
  assert.deepEqual(
    events.map((e) => e.event),
    ['Receive', 'Queue', 'Deliver', 'Fail', 'Bounce'],
  );
  assert.match(
    events[0]!.detail,
    /from 127\.0\.0\.1, rule printers on 127\.0\.0\.1:0, no TLS, \d+ bytes, Message-ID <scan-77@mfp>/,
  );
  const refused = JSON.parse(await trace('refusals', '--json')) as {
    phase: string;
    sender: string;
    reply: string;
  }[];
  assert.deepEqual(
    refused.map((r) => [r.phase, r.sender]),
    [['mail', 'ceo@fabrikam.com']],
  );
  assert.match(refused[0]!.reply, /^550 5\.7\.1 ceo@fabrikam\.com is not an allowed sender/);
  assert.equal((await bridgehead(['trace', 'NOSUCH', '-c', cfg])).code, 1);
  assert.equal((await bridgehead(['trace', '--status', 'weird', '-c', cfg])).code, 2);
});
