import assert from 'node:assert/strict';
import { test } from 'node:test';

import { queuedId, startTestRelay } from '../helpers/relay.ts';
import { RawSmtp } from '../helpers/smtp-client.ts';

const HOLD = {
  routes: { default: { transport: { kind: 'smtp', host: '127.0.0.1', port: 9, security: 'none' } } },
};

async function submit(port: number, to: string[], messageId: string | null, from = 'mfp@contoso.com') {
  const c = await RawSmtp.connect(port);
  try {
    await c.reply();
    await c.command('EHLO mfp');
    const head = messageId ? `Message-ID: ${messageId}\r\n` : '';
    return await c.transaction(from, to, `${head}Subject: scan\r\n\r\npage\r\n`);
  } finally {
    c.close();
  }
}

test('a device resending the same message within the window gets 250 with the first id; nothing new is queued', async (t) => {
  const relay = await startTestRelay({ ...HOLD, duplicates: { window: '10m' } });
  t.after(() => relay.cleanup());
  const first = await submit(relay.port, ['a@contoso.com', 'b@contoso.com'], '<scan-1@mfp>');
  const again = await submit(relay.port, ['b@contoso.com', 'a@contoso.com'], '<scan-1@mfp>');
  assert.match(again, /^250 2\.0\.0 Ok: queued as /);
  assert.equal(queuedId(again), queuedId(first), 'the resend is answered with the first queue id');
  assert.equal((await relay.store.list()).length, 1);
  // Anything that differs is a new message: recipients, sender, Message-ID, or none at all.
  await submit(relay.port, ['a@contoso.com'], '<scan-1@mfp>');
  await submit(relay.port, ['a@contoso.com', 'b@contoso.com'], '<scan-1@mfp>', 'other@contoso.com');
  await submit(relay.port, ['a@contoso.com', 'b@contoso.com'], '<scan-2@mfp>');
  await submit(relay.port, ['a@contoso.com'], null);
  await submit(relay.port, ['a@contoso.com'], null);
  assert.equal((await relay.store.list()).length, 6);
});

test('duplicates.window 0s turns suppression off', async (t) => {
  const relay = await startTestRelay({ ...HOLD, duplicates: { window: '0s' } });
  t.after(() => relay.cleanup());
  const a = await submit(relay.port, ['a@contoso.com'], '<same@mfp>');
  const b = await submit(relay.port, ['a@contoso.com'], '<same@mfp>');
  assert.notEqual(queuedId(a), queuedId(b));
  assert.equal((await relay.store.list()).length, 2);
});
