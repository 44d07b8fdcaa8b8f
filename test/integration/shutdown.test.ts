import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';

import { startChildRelay, writeConfig } from '../helpers/child-relay.ts';
import { tempDir } from '../helpers/relay.ts';
import { RawSmtp } from '../helpers/smtp-client.ts';
import { startUpstream } from '../helpers/upstream.ts';

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

test('SIGTERM: no new sessions, open ones may finish, stragglers get 421 4.3.2, queue drained, exit 0', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const upstream = await startUpstream();
  t.after(() => upstream.close());
  const config = writeConfig(dir, {
    relay: { dataDir: join(dir, 'data'), hostname: 'stop.test' },
    listeners: [{ host: '127.0.0.1', port: 0 }],
    routes: {
      default: { transport: { kind: 'smtp', host: '127.0.0.1', port: upstream.port, security: 'none' } },
    },
    shutdown: { grace: '1500ms' },
    log: { level: 'info', format: 'json' },
  });
  const relay = await startChildRelay(config);
  t.after(() => relay.child.kill('SIGKILL'));

  const finisher = await RawSmtp.connect(relay.port);
  const straggler = await RawSmtp.connect(relay.port);
  for (const c of [finisher, straggler]) {
    await c.reply();
    await c.command('EHLO d');
    await c.command('MAIL FROM:<a@example.com>');
    await c.command('RCPT TO:<b@example.net>');
  }
  relay.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(await refused(relay.port), 'the listener no longer accepts connections');

  // The open session still completes its message inside the grace period.
  assert.match(await finisher.command('DATA'), /^354/);
  assert.match(await finisher.command('Subject: last\r\n\r\nbody\r\n.'), /^250 2\.0\.0 Ok: queued as /);
  // The idle one is told to come back later once the grace period is over.
  assert.equal(await straggler.reply(5000), '421 4.3.2 Relay is shutting down, try again later');

  assert.equal(await relay.exited, 0);
  assert.equal(upstream.received.length, 1, 'the message accepted during shutdown was delivered before exit');
  assert.match(relay.output(), /"msg":"relay:stopped"/);
});

test('an invalid configuration stops start-up with exit 78 and the path of the problem', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = writeConfig(dir, { listeners: [{ port: 'twenty-five' }] });
  await assert.rejects(startChildRelay(config), (err: Error) => {
    assert.match(err.message, /exited \(78\)/);
    assert.match(err.message, /listeners\.0\.port/);
    return true;
  });
});
