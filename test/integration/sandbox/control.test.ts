import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';

import nodemailer from 'nodemailer';

import { startSandbox } from '../../../src/sandbox/index.ts';
import { bridgehead, run } from '../../helpers/cli.ts';
import { https } from '../../helpers/https.ts';
import { startTestRelay, tempDir, waitFor } from '../../helpers/relay.ts';

test('control API: mailboxes, folder listing, one raw message, trace with wildcards, faults and reset', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const mx = nodemailer.createTransport({
    host: '127.0.0.1',
    port: sb.mx.port,
    tls: { ca: sb.caPem, servername: sb.mx.name },
  });
  await mx.sendMail({ from: 'printer@fabrikam.com', to: 'alice@contoso.com', subject: 'Via MX', text: 'x' });
  const get = (path: string) => https('GET', `${sb.http.url}${path}`, { ca: sb.caPem });
  assert.deepEqual(
    (JSON.parse((await get('/sandbox/mailboxes')).text) as { address: string }[]).map((m) => m.address),
    ['alice@contoso.com', 'scanner@contoso.com'],
  );
  const inbox = JSON.parse((await get('/sandbox/mailboxes/alice@contoso.com/inbox')).text) as {
    id: string;
    subject: string;
  }[];
  assert.equal(inbox[0]!.subject, 'Via MX');
  assert.match((await get(`/sandbox/messages/${inbox[0]!.id}`)).text, /Subject: Via MX/);
  const trace = JSON.parse((await get('/sandbox/trace?recipient=*@contoso.com')).text) as {
    status: string;
  }[];
  assert.equal(trace[0]!.status, 'Delivered');
  assert.equal((JSON.parse((await get('/sandbox/trace?sender=*@nowhere.test')).text) as unknown[]).length, 0);

  const put = await https('PUT', `${sb.http.url}/sandbox/faults`, {
    ca: sb.caPem,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ dropAfterData: true }),
  });
  assert.equal(put.status, 200);
  await assert.rejects(
    mx.sendMail({ from: 'printer@fabrikam.com', to: 'alice@contoso.com', text: 'dropped' }),
    /Connection closed|ECONNRESET|closed unexpectedly/i,
  );
  sb.faults.dropAfterData = false;
  await https('POST', `${sb.http.url}/sandbox/reset`, { ca: sb.caPem });
  assert.equal(sb.state.folder('alice@contoso.com', 'Inbox').length, 0);
  mx.close();
});

test('the relay retries a 451 4.7.0 PRX from the sandbox MX and delivers on the next attempt', async (t) => {
  const relay = await startTestRelay({
    delivery: { retrySchedule: '200ms' },
    routes: { default: { transport: { kind: 'sandbox', method: 'mx' } } },
  });
  t.after(() => relay.cleanup());
  relay.sandbox!.faults.smtpTempErrorRatio = 1;
  const device = nodemailer.createTransport({ host: '127.0.0.1', port: relay.port, ignoreTLS: true });
  t.after(() => device.close());
  const id = /queued as (\S+)/.exec(
    (
      await device.sendMail({
        from: 'scanner@contoso.com',
        to: 'alice@contoso.com',
        subject: 'retry me',
        text: 'x',
      })
    ).response,
  )![1]!;
  const first = await waitFor(
    async () => ((await relay.store.get(id))?.attempts === 1 ? relay.store.get(id) : null),
    'first attempt',
  );
  assert.match(
    first!.recipients[0]!.lastReply!,
    /^451 4\.7\.0 Temporary server error\. Please try again later\. PRX1/,
  );
  relay.sandbox!.faults.smtpTempErrorRatio = 0;
  await waitFor(
    () => relay.sandbox!.state.folder('alice@contoso.com', 'Inbox').length === 1,
    'delivery after the fault clears',
  );
});

test('bridgehead sandbox runs alone and lists what arrived; the mailbox command reads the files', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const child = (await import('node:child_process')).spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'sandbox', '--mx-port', String(port), '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(() => child.kill('SIGKILL'));
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await waitFor(() => /is running/.test(err), 'sandbox start', 20_000);
  assert.match(
    err,
    new RegExp(`MX host +contoso-com\\.mail\\.protection\\.outlook\\.com on 127\\.0\\.0\\.1:${port}`),
  );
  const swaks = await run('swaks', [
    '--server',
    `127.0.0.1:${port}`,
    '--from',
    'printer@fabrikam.com',
    '--to',
    'alice@contoso.com',
    '--header',
    'Subject: from swaks',
  ]).catch(() => null);
  if (swaks === null || swaks.code !== 0) {
    const mx = nodemailer.createTransport({ host: '127.0.0.1', port, ignoreTLS: true });
    await mx.sendMail({
      from: 'printer@fabrikam.com',
      to: 'alice@contoso.com',
      subject: 'from swaks',
      text: 'x',
    });
    mx.close();
  }
  const list = await bridgehead(['sandbox', 'mailbox', 'alice@contoso.com', '--dir', dir, '--json']);
  assert.equal(list.code, 0, list.stderr);
  const rows = JSON.parse(list.stdout) as { subject: string; file: string }[];
  assert.equal(rows[0]!.subject, 'from swaks');
  assert.ok(rows[0]!.file.startsWith(join(dir, 'mailboxes', 'alice@contoso.com', 'Inbox')));
  const trace = await bridgehead([
    'sandbox',
    'trace',
    '--recipient',
    '*@contoso.com',
    '--dir',
    dir,
    '--json',
  ]);
  assert.equal(trace.code, 0, trace.stderr);
  assert.deepEqual(
    (JSON.parse(trace.stdout) as { recipientAddress: string; status: string }[]).map((r) => [
      r.recipientAddress,
      r.status,
    ]),
    [['alice@contoso.com', 'Delivered']],
  );
  child.kill('SIGTERM');
  assert.equal(await new Promise((r) => child.once('exit', r)), 0);
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = connect({ port: 1, host: '127.0.0.1' });
    s.on('error', () => undefined);
    s.destroy();
    import('node:net').then(({ createServer }) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const port = (srv.address() as { port: number }).port;
        srv.close(() => resolve(port));
      });
    });
  });
}
