import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

import { type AddressObject, simpleParser } from 'mailparser';
import nodemailer, { type SendMailOptions } from 'nodemailer';

import { queuedId, startTestRelay, untilMessage, waitFor } from '../helpers/relay.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';

/** A relay in front of an upstream that refuses nobody@ for good and defers slow@. */
async function rig(t: TestContext, bounces: Record<string, unknown> = {}) {
  const upstream = await startUpstream({
    rcptReply: (a) =>
      a.startsWith('nobody@')
        ? '550 5.1.1 <nobody@contoso.com>: Recipient address rejected: User unknown'
        : a.startsWith('slow@')
          ? '451 4.3.0 Try again later'
          : null,
  });
  t.after(() => upstream.close());
  const relay = await startTestRelay({
    routes: {
      default: { transport: { kind: 'smtp', host: '127.0.0.1', port: upstream.port, security: 'none' } },
    },
    delivery: { retrySchedule: '1h' },
    bounces,
  });
  t.after(() => relay.cleanup());
  const send = async (mail: SendMailOptions) => {
    const device = nodemailer.createTransport({ host: '127.0.0.1', port: relay.port, ignoreTLS: true });
    try {
      return queuedId((await device.sendMail(mail)).response);
    } finally {
      device.close();
    }
  };
  return { upstream, relay, send };
}

/**
 * mailparser reads the message/delivery-status part as text and appends it to the
 * notification text; its fields start at Reporting-MTA (the first per-message field).
 */
function deliveryStatus(text: string | undefined): string {
  const at = text?.indexOf('Reporting-MTA:') ?? -1;
  assert.ok(at > 0, `no delivery-status fields in: ${text}`);
  return text!.slice(at).trim();
}

const bounceIn = (upstream: Upstream) => upstream.received.filter((m) => m.from === '');

test('a permanent failure sends the sender an RFC 3464 report that parses back: status, diagnostic, ORCPT, ENVID, headers returned', async (t) => {
  const { upstream, relay, send } = await rig(t);
  const id = await send({
    envelope: { from: 'mfp@contoso.com', to: ['alice@contoso.com', 'nobody@contoso.com'] },
    raw: 'From: mfp@contoso.com\r\nTo: alice@contoso.com\r\nSubject: Scan 42\r\nMessage-ID: <scan42@mfp>\r\n\r\nPDF\r\n',
    dsn: { id: 'env-42', ret: 'HDRS', notify: ['FAILURE'], recipient: 'nobody@contoso.com' },
  });
  await untilMessage(relay.store, id, (m) => m.state === 'done', 'original done');
  await waitFor(() => bounceIn(upstream).length === 1, 'the bounce delivered');
  const dsn = bounceIn(upstream)[0]!;
  assert.deepEqual(dsn.to, ['mfp@contoso.com']);
  const parsed = await simpleParser(dsn.body);
  assert.equal(parsed.subject, 'Undelivered Mail Returned to Sender');
  assert.match(String(parsed.headers.get('auto-submitted')), /auto-replied/);
  const ct = parsed.headers.get('content-type') as { value: string; params: Record<string, string> };
  assert.equal(ct.value, 'multipart/report');
  assert.equal(ct.params['report-type'], 'delivery-status');
  const [perMessage, ...perRecipient] = deliveryStatus(parsed.text).split(/\r?\n\r?\n/);
  const fields = (block: string) =>
    Object.fromEntries(
      block.split(/\r?\n/).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
    );
  assert.equal(fields(perMessage!)['Reporting-MTA'], 'dns; relay.test');
  assert.equal(fields(perMessage!)['Original-Envelope-Id'], 'env-42');
  assert.equal(perRecipient.length, 1, 'only the failed recipient is reported');
  const r = fields(perRecipient[0]!);
  assert.equal(r['Final-Recipient'], 'rfc822; nobody@contoso.com');
  assert.equal(r['Original-Recipient'], 'rfc822; nobody@contoso.com');
  assert.equal(r.Action, 'failed');
  assert.equal(r.Status, '5.1.1');
  assert.equal(
    r['Diagnostic-Code'],
    'smtp; 550 5.1.1 <nobody@contoso.com>: Recipient address rejected: User unknown',
  );
  assert.match(r['Remote-MTA']!, /^dns; 127\.0\.0\.1/);
  const headers = parsed.attachments.find((a) => a.contentType === 'text/rfc822-headers');
  assert.ok(headers, 'RET=HDRS: the headers come back, not the body');
  assert.match(headers.content.toString(), /^Subject: Scan 42$/m);
  assert.doesNotMatch(headers.content.toString(), /PDF/);
  assert.match(parsed.text ?? '', /<nobody@contoso\.com>: 550 5\.1\.1/);
});

test('no bounce for the null sender, for NOTIFY=NEVER, or for a success; RET=FULL returns the message', async (t) => {
  const { upstream, relay, send } = await rig(t);
  const ids = [
    await send({ envelope: { from: '', to: ['nobody@contoso.com'] }, raw: 'Subject: a bounce\r\n\r\nx\r\n' }),
    await send({
      envelope: { from: 'mfp@contoso.com', to: ['nobody@contoso.com'] },
      raw: 'Subject: quiet\r\n\r\nx\r\n',
      dsn: { notify: ['NEVER'] },
    }),
    await send({
      envelope: { from: 'mfp@contoso.com', to: ['alice@contoso.com'] },
      raw: 'Subject: fine\r\n\r\nx\r\n',
    }),
    await send({
      envelope: { from: 'app@contoso.com', to: ['nobody@contoso.com'] },
      raw: 'Subject: full please\r\n\r\nthe whole body\r\n',
      dsn: { ret: 'FULL' },
    }),
  ];
  for (const id of ids) await untilMessage(relay.store, id, (m) => m.state === 'done', id);
  await waitFor(() => bounceIn(upstream).length >= 1, 'one bounce');
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(
    bounceIn(upstream).map((m) => m.to),
    [['app@contoso.com']],
  );
  const parsed = await simpleParser(bounceIn(upstream)[0]!.body);
  const returned = parsed.attachments.find((a) => a.contentType === 'message/rfc822');
  assert.ok(returned, 'RET=FULL: the message comes back whole');
  assert.match(returned.content.toString(), /the whole body/);
});

test("bounces.redirectTo and copyTo: the device's unmonitored address is replaced, an admin gets a copy", async (t) => {
  const { upstream, send } = await rig(t, {
    redirectTo: 'helpdesk@contoso.com',
    copyTo: 'postmaster@contoso.com',
  });
  await send({
    envelope: { from: 'noreply-mfp@contoso.com', to: ['nobody@contoso.com'] },
    raw: 'Subject: s\r\n\r\nx\r\n',
  });
  await waitFor(() => bounceIn(upstream).length === 1, 'bounce');
  assert.deepEqual(bounceIn(upstream)[0]!.to.sort(), ['helpdesk@contoso.com', 'postmaster@contoso.com']);
  const parsed = await simpleParser(bounceIn(upstream)[0]!.body);
  assert.equal(
    (parsed.to as AddressObject).value[0]!.address,
    'noreply-mfp@contoso.com',
    'the report still names the sender',
  );
});

test('bounces.delayAfter: one delay notice (Action: delayed) for a message still waiting, not one per attempt', async (t) => {
  const { upstream, relay, send } = await rig(t, { delayAfter: '0s' });
  const id = await send({
    envelope: { from: 'mfp@contoso.com', to: ['slow@contoso.com'] },
    raw: 'Subject: s\r\n\r\nx\r\n',
  });
  await waitFor(() => bounceIn(upstream).length === 1, 'delay notice');
  const parsed = await simpleParser(bounceIn(upstream)[0]!.body);
  assert.equal(parsed.subject, 'Delayed Mail (still being retried)');
  const status = deliveryStatus(parsed.text);
  assert.match(status, /^Action: delayed$/m);
  assert.match(status, /^Status: 4\.3\.0$/m);
  await relay.store.retryNow(id, Date.now());
  relay.worker.poke();
  await untilMessage(relay.store, id, (m) => m.attempts === 2, 'second attempt');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(bounceIn(upstream).length, 1, 'still one notice after the second attempt');
});
