import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestPki {
  caFile: string;
  certFile: string;
  keyFile: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/**
 * A throw-away CA and a server certificate for localhost/127.0.0.1, made with the openssl
 * command line, so TLS tests trust a real chain instead of turning verification off.
 */
export function makeTestPki(dir: string, opts: { days?: number } = {}): TestPki {
  const p = (f: string) => join(dir, f);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ossl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=Bridgehead Test CA',
  );
  issueCertificate(
    dir,
    'server',
    'localhost',
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n',
    opts.days,
  );
  return {
    caFile: p('ca.crt'),
    certFile: p('server.crt'),
    keyFile: p('server.key'),
    ca: readFileSync(p('ca.crt')),
    cert: readFileSync(p('server.crt')),
    key: readFileSync(p('server.key')),
  };
}

/** A self-signed RSA certificate for an app registration's certificate credential (MSAL signs assertions with RS256/PS256). */
export function makeAppCertificate(dir: string): {
  certPem: string;
  keyPem: string;
  thumbprintSha256: string;
} {
  const p = (f: string) => join(dir, f);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      p('app.key'),
      '-out',
      p('app.crt'),
      '-days',
      '2',
      '-subj',
      '/CN=bridgehead-app',
    ],
    { stdio: 'pipe' },
  );
  const certPem = readFileSync(p('app.crt'), 'utf8');
  const der = Buffer.from(certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  return {
    certPem,
    keyPem: readFileSync(p('app.key'), 'utf8'),
    thumbprintSha256: createHash('sha256').update(der).digest('hex'),
  };
}

/** A client certificate (CN and DNS SAN `name`) signed by the CA in `dir`, for TLS client-certificate tests. */
export function makeClientCertificate(dir: string, name: string): { cert: Buffer; key: Buffer } {
  const base = `client-${name.replace(/[^a-z0-9]/gi, '_')}`;
  issueCertificate(dir, base, name, `subjectAltName=DNS:${name}\nextendedKeyUsage=clientAuth\n`);
  return { cert: readFileSync(join(dir, `${base}.crt`)), key: readFileSync(join(dir, `${base}.key`)) };
}

/** A P-256 key and a certificate for CN `cn` with extensions `ext`, signed by ca.crt/ca.key in `dir`: <base>.crt, <base>.key. */
function issueCertificate(dir: string, base: string, cn: string, ext: string, days = 2): void {
  const p = (f: string) => join(dir, f);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ossl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    p(`${base}.key`),
    '-out',
    p(`${base}.csr`),
    '-subj',
    `/CN=${cn}`,
  );
  writeFileSync(p(`${base}.cnf`), ext);
  ossl(
    'x509',
    '-req',
    '-in',
    p(`${base}.csr`),
    '-CA',
    p('ca.crt'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-out',
    p(`${base}.crt`),
    '-days',
    String(days),
    '-extfile',
    p(`${base}.cnf`),
  );
}
