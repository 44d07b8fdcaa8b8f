import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first

import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';

import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  /** Leaf then CA: what a TLS client must present for a certificate-based connector (facts §4.1). */
  chainPem: string;
}

export interface SandboxPki {
  caPem: string;
  server: IssuedCertificate;
  /** A client certificate for connector tests, signed by the sandbox CA. */
  issueClientCertificate(commonName: string, dnsNames?: string[]): Promise<IssuedCertificate>;
}

/**
 * A CA made at start-up and one server certificate for every name the sandbox answers to.
 * Nothing turns certificate checks off: clients are given `caPem` to trust instead.
 */
export async function createSandboxPki(names: string[]): Promise<SandboxPki> {
  const caKeys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=Bridgehead Sandbox CA, O=Bridgehead sandbox (not Microsoft)',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 365 * DAY_MS),
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const caPem = ca.toString('pem');

  async function issue(commonName: string, sans: string[], usage: string): Promise<IssuedCertificate> {
    const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${commonName}`,
      issuer: ca.subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 90 * DAY_MS),
      signingKey: caKeys.privateKey,
      publicKey: keys.publicKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([usage]),
        new x509.SubjectAlternativeNameExtension(
          [...new Set([commonName, ...sans])].map((n) =>
            isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n },
          ),
        ),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
      ],
    });
    const keyPem = x509.PemConverter.encode(
      await webcrypto.subtle.exportKey('pkcs8', keys.privateKey),
      'PRIVATE KEY',
    );
    const certPem = cert.toString('pem');
    return { certPem, keyPem, chainPem: `${certPem}\n${caPem}\n` };
  }

  const server = await issue(names[0] ?? 'localhost', names, x509.ExtendedKeyUsage.serverAuth);
  return {
    caPem,
    server,
    issueClientCertificate: (cn, dnsNames = []) => issue(cn, dnsNames, x509.ExtendedKeyUsage.clientAuth),
  };
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(12)))
    .toString('hex')
    .replace(/^[89a-f]/, '1');
}
