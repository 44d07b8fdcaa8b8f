import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { newApiToken } from '../../../src/admin/auth.ts';
import { startTestRelay, untilMessage, waitFor } from '../../helpers/relay.ts';
import { RawSmtp } from '../../helpers/smtp-client.ts';
import { startUpstream } from '../../helpers/upstream.ts';

const { token, hash } = newApiToken();

test('/metrics counts sessions, acceptances, refusals and deliveries, and reads the queue; docs/metrics.md lists exactly these metrics', async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.close());
  const relay = await startTestRelay({
    routes: {
      default: { transport: { kind: 'smtp', host: '127.0.0.1', port: upstream.port, security: 'none' } },
    },
    clients: [{ name: 'lan', recipients: ['contoso.com'] }],
    admin: { port: 0, tokens: { prometheus: hash } },
  });
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  await c.reply();
  await c.command('EHLO mfp');
  assert.match(await c.command('MAIL FROM:<mfp@contoso.com>'), /^250 /);
  assert.match(await c.command('RCPT TO:<x@gmail.com>'), /^550 5\.7\.1 /);
  assert.match(await c.command('RSET'), /^250 /);
  const id = /queued as (\S+)/.exec(
    await c.transaction('mfp@contoso.com', ['a@contoso.com'], 'Subject: m\r\n'),
  )![1]!;
  await c.command('QUIT');
  await untilMessage(relay.store, id, (m) => m.state === 'done', 'delivered');
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${relay.admin!.port}/metrics`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    return res.text();
  };
  let text = '';
  await waitFor(
    async () => /bridgehead_smtp_sessions_total\{[^}]*\} 1/.test((text = await scrape())),
    'session counted',
  );
  assert.match(text, /^bridgehead_smtp_sessions_total\{listener="127\.0\.0\.1:0",tls="none"\} 1$/m);
  assert.match(text, /^bridgehead_smtp_accepted_total\{route="default"\} 1$/m);
  assert.match(text, /^bridgehead_smtp_rejected_total\{phase="rcpt",code="5\.7\.1"\} 1$/m);
  assert.match(text, /^bridgehead_delivery_attempts_total\{route="default",transport="smtp"\} 1$/m);
  assert.match(
    text,
    /^bridgehead_delivery_recipients_total\{route="default",outcome="delivered",category="delivered"\} 1$/m,
  );
  assert.match(text, /^bridgehead_delivery_latency_seconds_count\{route="default"\} 1$/m);
  assert.match(text, /^bridgehead_queue_messages\{state="done"\} 1$/m);
  assert.match(text, /^bridgehead_queue_messages\{state="active"\} 0$/m);
  assert.doesNotMatch(text, /contoso\.com|gmail/, 'no addresses in labels');

  const served = new Set(
    [...text.matchAll(/^# TYPE (bridgehead_\w+) (\w+)$/gm)].map((m) => `${m[1]} ${m[2]}`),
  );
  const doc = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');
  const documented = new Set(
    [...doc.matchAll(/^\| `(bridgehead_\w+)` \| (\w+) \|/gm)].map((m) => `${m[1]} ${m[2]}`),
  );
  assert.deepEqual([...served].sort(), [...documented].sort());
});
