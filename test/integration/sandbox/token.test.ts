import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { request } from 'node:https';
import { test } from 'node:test';

import { ConfidentialClientApplication } from '@azure/msal-node';

import { networkClientWithCa } from '../../../src/oauth/network.ts';
import { startSandbox } from '../../../src/sandbox/index.ts';
import { DEMO, demoTenant, parseTenant } from '../../../src/sandbox/tenant.ts';
import { AUDIENCES } from '../../../src/sandbox/tokens.ts';
import { makeAppCertificate } from '../../helpers/pki.ts';
import { tempDir } from '../../helpers/relay.ts';

const dir = tempDir('bh-token-');
const appCert = makeAppCertificate(dir);
test.after(() => rmSync(dir, { recursive: true, force: true }));

function tenantWithCertificate() {
  const t = demoTenant();
  return parseTenant({ ...t, apps: [{ ...t.apps[0]!, certificates: [appCert.certPem] }] });
}

function msal(
  authority: string,
  caPem: string,
  credential:
    | { clientSecret: string }
    | { clientCertificate: { thumbprintSha256: string; privateKey: string; x5c: string } },
) {
  return new ConfidentialClientApplication({
    auth: { clientId: DEMO.clientId, authority, knownAuthorities: [new URL(authority).host], ...credential },
    system: { networkClient: networkClientWithCa(caPem) },
  });
}

function post(
  url: string,
  ca: string,
  form: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const data = new URLSearchParams(form).toString();
    const req = request(
      url,
      { method: 'POST', ca, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      (res) => {
        let b = '';
        res.on('data', (c: Buffer) => (b += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode!, body: JSON.parse(b) as Record<string, unknown> }),
        );
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

test('@azure/msal-node gets an Exchange token with the client secret; its roles carry SMTP.SendAsApp only', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const result = await msal(sb.http.authority, sb.caPem, {
    clientSecret: DEMO.clientSecret,
  }).acquireTokenByClientCredential({
    scopes: ['https://outlook.office365.com/.default'],
  });
  assert.ok(result?.accessToken);
  const claims = sb.tokens.verifyAccessToken(result.accessToken, AUDIENCES.exchange, DEMO.tenantId);
  assert.ok(claims.ok);
  assert.deepEqual(claims.ok && claims.roles, ['SMTP.SendAsApp']);
  assert.ok(result.expiresOn!.getTime() - Date.now() > 50 * 60_000, 'about an hour');
  const graph = await msal(sb.http.authority, sb.caPem, {
    clientSecret: DEMO.clientSecret,
  }).acquireTokenByClientCredential({ scopes: ['https://graph.microsoft.com/.default'] });
  const g = sb.tokens.verifyAccessToken(graph!.accessToken, AUDIENCES.graph, DEMO.tenantId);
  assert.deepEqual(g.ok && g.roles, ['Mail.Send', 'Mail.ReadWrite']);
  assert.equal(
    sb.tokens.verifyAccessToken(graph!.accessToken, AUDIENCES.exchange, DEMO.tenantId).ok,
    false,
    'a Graph token is no Exchange token',
  );
});

test('@azure/msal-node gets a token with a certificate credential (signed client assertion)', async (t) => {
  const sb = await startSandbox({ tenant: tenantWithCertificate() });
  t.after(() => sb.stop());
  const result = await msal(sb.http.authority, sb.caPem, {
    clientCertificate: {
      thumbprintSha256: appCert.thumbprintSha256,
      privateKey: appCert.keyPem,
      x5c: appCert.certPem,
    },
  }).acquireTokenByClientCredential({ scopes: ['https://outlook.office365.com/.default'] });
  assert.ok(result?.accessToken);
  const other = makeAppCertificate(tempDir('bh-other-'));
  await assert.rejects(
    msal(sb.http.authority, sb.caPem, {
      clientCertificate: {
        thumbprintSha256: other.thumbprintSha256,
        privateKey: other.keyPem,
        x5c: other.certPem,
      },
    }).acquireTokenByClientCredential({
      scopes: ['https://outlook.office365.com/.default'],
    }),
    /AADSTS700027/,
  );
});

test('token errors come back in Entra JSON with their AADSTS codes', async (t) => {
  const sb = await startSandbox();
  t.after(() => sb.stop());
  const url = `${sb.http.authority}/oauth2/v2.0/token`;
  const base = {
    grant_type: 'client_credentials',
    client_id: DEMO.clientId,
    client_secret: DEMO.clientSecret,
    scope: 'https://outlook.office365.com/.default',
  };
  const cases: [Record<string, string>, string, number, number][] = [
    [{ ...base, client_secret: 'not-the-secret' }, url, 401, 7000215],
    [{ ...base, client_id: '00000000-0000-4000-8000-000000000000' }, url, 400, 700016],
    [{ ...base, scope: 'https://outlook.office365.com/SMTP.Send' }, url, 400, 1002012],
    [base, `${sb.http.url}/11111111-2222-4333-8444-555555555555/oauth2/v2.0/token`, 400, 90002],
  ];
  for (const [form, target, status, code] of cases) {
    const r = await post(target, sb.caPem, form);
    assert.equal(r.status, status, `AADSTS${code}`);
    assert.deepEqual(r.body.error_codes, [code]);
    assert.match(
      String(r.body.error_description),
      new RegExp(`^AADSTS${code}: .* Trace ID: [0-9a-f-]{36} Correlation ID: [0-9a-f-]{36} Timestamp: `),
    );
    for (const key of ['error', 'timestamp', 'trace_id', 'correlation_id', 'error_uri'])
      assert.ok(key in r.body, key);
  }
  sb.faults.tokenDown = true;
  assert.equal((await post(url, sb.caPem, base)).status, 503);
});
