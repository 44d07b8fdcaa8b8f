import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

import { type Sandbox, startSandbox } from '../../../src/sandbox/index.ts';
import { DEMO, demoTenant, parseTenant, type Tenant } from '../../../src/sandbox/tenant.ts';
import { AUDIENCES } from '../../../src/sandbox/tokens.ts';
import { https } from '../../helpers/https.ts';

async function sandbox(t: TestContext, change: (t: Tenant) => unknown = (x) => x): Promise<Sandbox> {
  const sb = await startSandbox({ tenant: parseTenant(change(demoTenant())) });
  t.after(() => sb.stop());
  return sb;
}

const bearer = (sb: Sandbox, roles = ['Mail.Send', 'Mail.ReadWrite']) =>
  `Bearer ${sb.tokens.issue({ tenantId: DEMO.tenantId, appId: DEMO.clientId, objectId: DEMO.objectId, audience: AUDIENCES.graph, roles }).token}`;

const mime = (headers: string, body = 'Hello from the ERP') =>
  Buffer.from(
    `${headers}\r\nSubject: Invoice\r\nMessage-ID: <inv-1@contoso.com>\r\n\r\n${body}\r\n`,
  ).toString('base64');

function sendMime(sb: Sandbox, user: string, b64: string, auth = bearer(sb)) {
  return https('POST', `${sb.http.url}/v1.0/users/${encodeURIComponent(user)}/sendMail`, {
    ca: sb.caPem,
    headers: { authorization: auth, 'content-type': 'text/plain', 'client-request-id': 'c-1' },
    body: b64,
  });
}

test('sendMail with base64 MIME: 202, empty body, request ids; Bcc delivered but not shown; Sent Items keeps it', async (t) => {
  const sb = await sandbox(t);
  const r = await sendMime(
    sb,
    'scanner@contoso.com',
    mime('From: scanner@contoso.com\r\nTo: alice@contoso.com\r\nBcc: scanner@contoso.com'),
  );
  assert.equal(r.status, 202);
  assert.equal(r.text, '');
  assert.match(String(r.headers['request-id']), /^[0-9a-f-]{36}$/);
  assert.equal(r.headers['client-request-id'], 'c-1');
  const alice = sb.state.folder('alice@contoso.com', 'Inbox');
  assert.equal(alice.length, 1);
  assert.doesNotMatch(alice[0]!.raw.toString(), /^Bcc:/im, 'recipients do not see Bcc');
  assert.equal(sb.state.folder('scanner@contoso.com', 'Inbox').length, 1, 'the Bcc recipient got it');
  assert.match(
    sb.state.folder('scanner@contoso.com', 'SentItems')[0]!.raw.toString(),
    /^Bcc: scanner@contoso\.com/im,
  );
});

test('sendMail with a JSON message and saveToSentItems false', async (t) => {
  const sb = await sandbox(t);
  const r = await https('POST', `${sb.http.url}/v1.0/users/scanner@contoso.com/sendMail`, {
    ca: sb.caPem,
    headers: { authorization: bearer(sb), 'content-type': 'application/json' },
    body: JSON.stringify({
      message: {
        subject: 'JSON',
        body: { contentType: 'Text', content: 'hi' },
        toRecipients: [{ emailAddress: { address: 'alice@contoso.com' } }],
      },
      saveToSentItems: false,
    }),
  });
  assert.equal(r.status, 202);
  assert.equal(sb.state.folder('alice@contoso.com', 'Inbox')[0]!.subject, 'JSON');
  assert.equal(sb.state.folder('scanner@contoso.com', 'SentItems').length, 0);
});

test('Graph errors: bad base64, no recipients, SendAs denied, no Mail.Send, bad token, unknown user, over 4 MB', async (t) => {
  const sb = await sandbox(t);
  const cases: [string, Promise<{ status: number; json: () => Record<string, unknown> }>, number, string][] =
    [
      [
        'base64',
        sendMime(sb, 'scanner@contoso.com', 'not base64!!'),
        400,
        'ErrorMimeContentInvalidBase64String',
      ],
      [
        'no recipients',
        sendMime(sb, 'scanner@contoso.com', mime('From: scanner@contoso.com')),
        400,
        'ErrorInvalidRecipients',
      ],
      [
        'send as',
        sendMime(sb, 'scanner@contoso.com', mime('From: ceo@contoso.com\r\nTo: alice@contoso.com')),
        403,
        'ErrorSendAsDenied',
      ],
      [
        'permission',
        sendMime(sb, 'scanner@contoso.com', mime('To: alice@contoso.com'), bearer(sb, [])),
        403,
        'ErrorAccessDenied',
      ],
      [
        'token',
        sendMime(sb, 'scanner@contoso.com', mime('To: alice@contoso.com'), 'Bearer abc.def.ghi'),
        401,
        'InvalidAuthenticationToken',
      ],
      ['user', sendMime(sb, 'nobody@contoso.com', mime('To: alice@contoso.com')), 404, 'ErrorInvalidUser'],
      [
        'size',
        sendMime(sb, 'scanner@contoso.com', mime('To: alice@contoso.com', 'x'.repeat(3_200_000))),
        413,
        'RequestBodyTooLarge',
      ],
    ];
  for (const [name, pending, status, code] of cases) {
    const r = await pending;
    assert.equal(r.status, status, name);
    assert.equal((r.json().error as { code: string }).code, code, name);
  }
  assert.equal(sb.state.trace().length, 0);
});

test('an unlicensed mailbox is MailboxNotEnabledForRESTAPI', async (t) => {
  const sb = await sandbox(t, (x) => ({
    ...x,
    mailboxes: x.mailboxes.map((m) => ({
      ...m,
      licensed: m.address.startsWith('alice') ? false : m.licensed,
    })),
  }));
  const r = await sendMime(sb, 'alice@contoso.com', mime('To: scanner@contoso.com'));
  assert.equal(r.status, 404);
  assert.equal((r.json().error as { code: string }).code, 'MailboxNotEnabledForRESTAPI');
});

test('a fifth concurrent request from one app gets 429 with Retry-After', async (t) => {
  // Slow answers make the eight requests overlap for sure, as real Graph calls do.
  const sb = await sandbox(t, (x) => ({ ...x, faults: { ...x.faults, graphDelayMs: 1500 } }));
  const body = mime('From: scanner@contoso.com\r\nTo: alice@contoso.com', 'y'.repeat(100_000));
  const results = await Promise.all(
    Array.from({ length: 8 }, () => sendMime(sb, 'scanner@contoso.com', body)),
  );
  const throttled = results.filter((r) => r.status === 429);
  assert.ok(throttled.length >= 1, `statuses: ${results.map((r) => r.status).join(',')}`);
  assert.equal(throttled[0]!.headers['retry-after'], '1');
  assert.equal((throttled[0]!.json().error as { code: string }).code, 'ApplicationThrottled');
  assert.ok(results.filter((r) => r.status === 202).length >= 4);
});

test('large mail: draft, upload session, ranged PUTs under 4 MB, send', async (t) => {
  const sb = await sandbox(t);
  const auth = bearer(sb);
  const user = `${sb.http.url}/v1.0/users/scanner@contoso.com`;
  const draft = await https('POST', `${user}/messages`, {
    ca: sb.caPem,
    headers: { authorization: auth, 'content-type': 'text/plain' },
    body: mime('From: scanner@contoso.com\r\nTo: alice@contoso.com'),
  });
  assert.equal(draft.status, 201);
  const id = draft.json().id as string;
  const file = Buffer.alloc(6 * 1024 * 1024, 7);
  const session = await https('POST', `${user}/messages/${id}/attachments/createUploadSession`, {
    ca: sb.caPem,
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: JSON.stringify({
      AttachmentItem: {
        attachmentType: 'file',
        name: 'scan.pdf',
        size: file.length,
        contentType: 'application/pdf',
      },
    }),
  });
  assert.equal(session.status, 201);
  const uploadUrl = session.json().uploadUrl as string;
  const chunk = 3 * 1024 * 1024;
  for (let start = 0; start < file.length; start += chunk) {
    const part = file.subarray(start, start + chunk);
    const r = await https('PUT', uploadUrl, {
      ca: sb.caPem,
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `bytes ${start}-${start + part.length - 1}/${file.length}`,
      },
      body: part,
    });
    assert.equal(r.status, start + chunk >= file.length ? 201 : 200);
  }
  const sent = await https('POST', `${user}/messages/${id}/send`, {
    ca: sb.caPem,
    headers: { authorization: auth },
  });
  assert.equal(sent.status, 202);
  const got = sb.state.folder('alice@contoso.com', 'Inbox')[0]!.raw.toString();
  assert.match(got, /Content-Type: multipart\/mixed/);
  assert.match(got, /filename="scan\.pdf"/);
  assert.ok(got.length > file.length, 'the attachment arrived whole');
  const noRights = await https('POST', `${user}/messages`, {
    ca: sb.caPem,
    headers: { authorization: bearer(sb, ['Mail.Send']), 'content-type': 'text/plain' },
    body: mime('To: alice@contoso.com'),
  });
  assert.equal(noRights.status, 403, 'drafts need Mail.ReadWrite');
});

test('a seeded 429 storm answers a share of Graph requests with Retry-After, the same way every run', async (t) => {
  const statuses = async () => {
    const sb = await startSandbox({ faults: { graphThrottleRatio: 0.5, seed: 7 } });
    t.after(() => sb.stop());
    const out: number[] = [];
    for (let i = 0; i < 8; i++)
      out.push(
        (
          await sendMime(
            sb,
            'scanner@contoso.com',
            mime('From: scanner@contoso.com\r\nTo: alice@contoso.com'),
          )
        ).status,
      );
    return out;
  };
  const first = await statuses();
  assert.ok(first.includes(429) && first.includes(202), first.join(','));
  assert.deepEqual(await statuses(), first);
});
