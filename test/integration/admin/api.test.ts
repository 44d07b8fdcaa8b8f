import assert from 'node:assert/strict';
import { test } from 'node:test';

import { newApiToken } from '../../../src/admin/auth.ts';
import { ROUTES } from '../../../src/admin/routes.ts';
import { queuedId, startTestRelay, waitFor } from '../../helpers/relay.ts';
import { RawSmtp } from '../../helpers/smtp-client.ts';

const { token, hash } = newApiToken();
const other = newApiToken();
const HOLD = {
  routes: { default: { transport: { kind: 'smtp', host: '127.0.0.1', port: 9, security: 'none' } } },
  delivery: { retrySchedule: '1h' },
  admin: { port: 0, tokens: { ops: hash } },
};
const auth = { authorization: `Bearer ${token}` };

async function queueOne(port: number, from = 'mfp@contoso.com'): Promise<string> {
  const c = await RawSmtp.connect(port);
  try {
    await c.reply();
    await c.command('EHLO mfp');
    return queuedId(await c.transaction(from, ['a@contoso.com'], 'Subject: t\r\n'));
  } finally {
    c.close();
  }
}

test('every route but the health checks refuses a request without a valid token (401), and the app serves exactly the route table', async (t) => {
  const relay = await startTestRelay(HOLD);
  t.after(() => relay.cleanup());
  const app = relay.admin!.app;
  const served = new Set<string>();
  for (const r of ROUTES) {
    const url = r.url.replace(':id', 'X');
    for (const headers of [
      {},
      { authorization: `Bearer ${other.token}` },
      { authorization: 'Basic b3BzOm9wcw==' },
    ]) {
      const res = await app.inject({ method: r.method, url, headers });
      if (r.auth) assert.equal(res.statusCode, 401, `${r.method} ${r.url} with ${JSON.stringify(headers)}`);
      else assert.notEqual(res.statusCode, 401, `${r.method} ${r.url} is open`);
    }
    const ok = await app.inject({ method: r.method, url, headers: auth });
    assert.notEqual(ok.statusCode, 401, `${r.method} ${r.url} accepts the token`);
    served.add(`${r.method} ${r.url}`);
  }
  assert.deepEqual(
    ROUTES.filter((r) => !r.auth).map((r) => r.url),
    ['/healthz', '/readyz'],
  );
  assert.equal((await app.inject({ method: 'GET', url: '/nope', headers: auth })).statusCode, 404);
  assert.equal(served.size, ROUTES.length);
});

test('health: /healthz alive, /readyz checks the spool and the listeners; the API listens on loopback', async (t) => {
  const relay = await startTestRelay(HOLD);
  t.after(() => relay.cleanup());
  const res = await fetch(`http://127.0.0.1:${relay.admin!.port}/readyz`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {
    status: 'ready',
    checks: { store: 'ok', listeners: 'ok', tokens: 'ok' },
  });
  assert.deepEqual(await (await fetch(`http://127.0.0.1:${relay.admin!.port}/healthz`)).json(), {
    status: 'ok',
  });
  await relay.store.close(); // the spool goes away
  const down = await relay.admin!.app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(down.statusCode, 503);
  assert.equal(down.json().status, 'not-ready');
  assert.notEqual(down.json().checks.store, 'ok');
});

test('queue API: list with selectors, show, hold, release, retry, bounce, delete; config is redacted', async (t) => {
  const relay = await startTestRelay({
    ...HOLD,
    users: { scan01: `$scrypt$ln=4,r=8,p=1$${'A'.repeat(24)}$${'A'.repeat(44)}` },
  });
  t.after(() => relay.cleanup());
  const app = relay.admin!.app;
  const a = await queueOne(relay.port, 'mfp@contoso.com');
  const b = await queueOne(relay.port, 'erp@contoso.com');
  await waitFor(async () => (await relay.store.list()).every((m) => m.attempts >= 1), 'first attempts');
  const list = await app.inject({
    method: 'GET',
    url: '/api/v1/queue?sender=erp@contoso.com',
    headers: auth,
  });
  assert.deepEqual(
    list.json().messages.map((m: { id: string }) => m.id),
    [b],
  );
  assert.equal(
    (await app.inject({ method: 'GET', url: '/api/v1/queue?state=bogus', headers: auth })).statusCode,
    400,
  );
  assert.equal(
    (await app.inject({ method: 'GET', url: `/api/v1/queue/${a}`, headers: auth })).json().mailFrom,
    'mfp@contoso.com',
  );
  assert.equal(
    (await app.inject({ method: 'GET', url: '/api/v1/queue/NOPE', headers: auth })).statusCode,
    404,
  );
  const post = (id: string, action: string) =>
    app.inject({ method: 'POST', url: `/api/v1/queue/${id}/${action}`, headers: auth });
  assert.deepEqual((await post(a, 'hold')).json(), { id: a, ok: true });
  assert.equal((await relay.store.get(a))!.held, true);
  assert.equal(
    (await app.inject({ method: 'GET', url: '/api/v1/queue?state=held', headers: auth })).json().messages
      .length,
    1,
  );
  assert.deepEqual((await post(a, 'release')).json(), { id: a, ok: true });
  assert.deepEqual((await post(a, 'retry')).json(), { id: a, ok: true });
  assert.deepEqual((await post(b, 'bounce')).json(), { id: b, ok: true });
  assert.equal((await relay.store.get(b))!.state, 'done');
  assert.equal((await post(b, 'bounce')).statusCode, 404, 'a done message cannot be bounced again');
  assert.deepEqual(
    (await app.inject({ method: 'DELETE', url: `/api/v1/queue/${a}`, headers: auth })).json(),
    { id: a, ok: true },
  );
  const stats = (await app.inject({ method: 'GET', url: '/api/v1/stats', headers: auth })).json();
  assert.equal(typeof stats.active, 'number');
  const config = (await app.inject({ method: 'GET', url: '/api/v1/config', headers: auth })).body;
  assert.doesNotMatch(config, /\$scrypt\$|sha256:[0-9a-f]{64}/, 'hashes are redacted');
  assert.match(config, /"scan01":"\[redacted\]"/);
});
