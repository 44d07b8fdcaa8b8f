import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, type SecureVersion, type TLSSocket } from 'node:tls';

import type { ListenerConfig } from '../config/schema.ts';
import { RelayError } from '../errors.ts';
import type { VerifiedCertificate } from '../policy/clients.ts';

/**
 * TLS for the inbound listeners: the two profiles, reading and reloading the certificate, and
 * what a client certificate says about the client.
 *
 * modern: TLS 1.2 and 1.3 with OpenSSL's default ciphers.
 * legacy: TLS 1.0 and up, at OpenSSL security level 0, which re-enables the SHA-1 and
 * CBC suites 2010-era printers and scanners offer (and nothing more modern ever needs).
 * It belongs on a listener of its own so modern clients never negotiate down. Outbound,
 * Microsoft 365 is always reached over TLS 1.2+ whatever the device spoke.
 */
export const TLS_PROFILES: Record<
  ListenerConfig['tlsProfile'],
  { minVersion: SecureVersion; ciphers?: string }
> = {
  modern: { minVersion: 'TLSv1.2' },
  legacy: { minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' },
};

/** How often certificate files are checked for a change (certbot and friends replace them in place or by rename). */
export const CERT_POLL_MS = 2000;

export interface ListenerTls {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  minVersion: SecureVersion;
  ciphers?: string;
  requestCert?: boolean;
  /** Verification happens after the handshake: an unverified certificate just matches no rule. */
  rejectUnauthorized?: boolean;
}

/** The smtp-server TLS options of a listener, read from disk; null for a listener without TLS. */
export function readListenerTls(listener: ListenerConfig): ListenerTls | null {
  if (!listener.cert || !listener.key) return null;
  const profile = TLS_PROFILES[listener.tlsProfile];
  const options: ListenerTls = {
    cert: readTlsFile(listener.cert),
    key: readTlsFile(listener.key),
    minVersion: profile.minVersion,
    ...(profile.ciphers ? { ciphers: profile.ciphers } : {}),
  };
  if (listener.clientCa) {
    options.ca = readTlsFile(listener.clientCa);
    options.requestCert = true;
    options.rejectUnauthorized = false;
  }
  // Fails here, with the file names, rather than at the first handshake.
  try {
    createSecureContext(options);
  } catch (cause) {
    throw new RelayError(
      'ERELAY_TLS_FILES',
      `${listener.cert} / ${listener.key}: ${(cause as Error).message}`,
      { cause },
    );
  }
  return options;
}

function readTlsFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new RelayError('ERELAY_TLS_FILES', `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Polls the certificate, key and CA files of a listener; when one changes and the new set
 * loads, `apply` gets it. A half-written or mismatched pair is reported and the old
 * certificate stays in use until the files are consistent again.
 */
export function watchListenerTls(
  listener: ListenerConfig,
  apply: (tls: ListenerTls) => void,
  onError: (err: Error) => void,
): () => void {
  const files = [listener.cert, listener.key, listener.clientCa].filter((f): f is string => Boolean(f));
  const stamp = () =>
    files
      .map((f) => {
        try {
          const s = statSync(f);
          return `${s.ino}:${s.size}:${s.mtimeMs}`;
        } catch {
          return 'missing';
        }
      })
      .join('|');
  let last = stamp();
  const timer = setInterval(() => {
    const now = stamp();
    if (now === last) return;
    try {
      const tls = readListenerTls(listener);
      last = now;
      if (tls) apply(tls);
    } catch (err) {
      onError(err as Error);
    }
  }, CERT_POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** A client certificate that verified against the listener's clientCa, as the client policy sees it. */
export function verifiedPeer(socket: TLSSocket): VerifiedCertificate | null {
  if (!socket.authorized) return null;
  const raw = socket.getPeerCertificate(false)?.raw;
  if (!raw) return null;
  const cert = new X509Certificate(raw);
  const names = new Set<string>();
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  if (cn) names.add(cn.toLowerCase());
  for (const entry of cert.subjectAltName?.split(', ') ?? [])
    if (entry.startsWith('DNS:')) names.add(entry.slice(4).toLowerCase());
  return { names: [...names], fingerprint: createHash('sha256').update(raw).digest('hex') };
}
