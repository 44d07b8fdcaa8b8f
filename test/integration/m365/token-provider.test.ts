import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';

import type { TokenError } from '../../../src/oauth/token-provider.ts';
import { SCOPES, TokenProvider } from '../../../src/oauth/token-provider.ts';
import { startSandbox } from '../../../src/sandbox/index.ts';
import { DEMO, demoTenant, parseTenant } from '../../../src/sandbox/tenant.ts';
import { AUDIENCES } from '../../../src/sandbox/tokens.ts';
import { makeAppCertificate } from '../../helpers/pki.ts';
import { tempDir } from '../../helpers/relay.ts';

const dir = tempDir('bh-tp-');
const cert = makeAppCertificate(dir);
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('tokens for Exchange and Graph with a client secret; cached; concurrent callers share one request', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  let clock = Date.now();
  const tp = new TokenProvider({
    tenantId: DEMO.tenantId,
    clientId: DEMO.clientId,
    clientSecret: DEMO.clientSecret,
    authorityHost: sb.http.url,
    caPem: sb.caPem,
    now: () => clock,
  });
  const [a, b, c] = await Promise.all([
    tp.get(SCOPES.exchange),
    tp.get(SCOPES.exchange),
    tp.get(SCOPES.exchange),
  ]);
  assert.equal(a.token, b.token);
  assert.equal(b.token, c.token);
  assert.ok(sb.tokens.verifyAccessToken(a.token, AUDIENCES.exchange, DEMO.tenantId).ok);
  assert.equal((await tp.get(SCOPES.exchange)).token, a.token, 'served from the cache');
  assert.equal(sb.tokens.issued, 1);
  const graph = await tp.get(SCOPES.graph);
  assert.ok(sb.tokens.verifyAccessToken(graph.token, AUDIENCES.graph, DEMO.tenantId).ok);
  // Close to expiry the provider renews ahead of time.
  clock = a.expiresAt - 60_000;
  await tp.get(SCOPES.exchange);
  assert.equal(sb.tokens.issued, 3, 'renewed ahead of expiry');
  await tp.get(SCOPES.exchange, true);
  assert.equal(sb.tokens.issued, 4, 'forced renewal after a refusal');
});

test('a certificate credential works (thumbprint computed from the PEM)', async (t) => {
  const tenant = demoTenant();
  const sb = await startSandbox({
    tenant: parseTenant({ ...tenant, apps: [{ ...tenant.apps[0]!, certificates: [cert.certPem] }] }),
  });
  t.after(() => sb.stop());
  const tp = new TokenProvider({
    tenantId: DEMO.tenantId,
    clientId: DEMO.clientId,
    certificate: { certPem: cert.certPem, keyPem: cert.keyPem },
    authorityHost: sb.http.url,
    caPem: sb.caPem,
  });
  assert.ok((await tp.get(SCOPES.exchange)).token);
});

test('a bad secret is a configuration error (AADSTS7000215); an unreachable endpoint is temporary', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const bad = new TokenProvider({
    tenantId: DEMO.tenantId,
    clientId: DEMO.clientId,
    clientSecret: 'wrong-wrong',
    authorityHost: sb.http.url,
    caPem: sb.caPem,
  });
  await assert.rejects(bad.get(SCOPES.exchange), (err: TokenError) => {
    assert.equal(err.kind, 'configuration');
    assert.equal(err.aadsts, 7000215);
    assert.match(err.message, /AADSTS7000215: Invalid client secret provided/);
    return true;
  });
  sb.faults.tokenDown = true;
  const down = new TokenProvider({
    tenantId: DEMO.tenantId,
    clientId: DEMO.clientId,
    clientSecret: DEMO.clientSecret,
    authorityHost: sb.http.url,
    caPem: sb.caPem,
  });
  await assert.rejects(down.get(SCOPES.exchange), (err: TokenError) => err.kind === 'temporary');
  const nowhere = new TokenProvider({
    tenantId: DEMO.tenantId,
    clientId: DEMO.clientId,
    clientSecret: DEMO.clientSecret,
    authorityHost: 'https://127.0.0.1:9',
    caPem: sb.caPem,
  });
  await assert.rejects(nowhere.get(SCOPES.exchange), (err: TokenError) => err.kind === 'temporary');
});
