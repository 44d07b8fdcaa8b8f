import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Device passwords are kept as scrypt hashes in the configuration, in a self-describing form:
 * `$scrypt$ln=15,r=8,p=1$<salt b64>$<hash b64>` (the layout passlib and others use), so the
 * cost can be raised later without breaking old entries. scrypt is in node:crypto; no native
 * dependency is needed. N=2^15 costs ~50-100 ms and 32 MB per check, which is what an AUTH
 * brute-force attempt should cost, and a device authenticates once per session.
 */
const KEY_BYTES = 32;
const DEFAULT_LOG_N = 15;
const MAX_LOG_N = 20;

interface Params {
  logN: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function derive(password: string, salt: Buffer, logN: number, r: number, p: number): Promise<Buffer> {
  const N = 2 ** logN;
  return new Promise((resolve, reject) =>
    scrypt(
      password.normalize('NFC'),
      salt,
      KEY_BYTES,
      { N, r, p, maxmem: 256 * N * r + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    ),
  );
}

export async function hashPassword(password: string, logN = DEFAULT_LOG_N): Promise<string> {
  const salt = randomBytes(16);
  const hash = await derive(password, salt, logN, 8, 1);
  return `$scrypt$ln=${logN},r=8,p=1$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export function parseHash(encoded: string): Params | null {
  const m = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(encoded);
  if (!m) return null;
  const [logN, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (logN < 1 || logN > MAX_LOG_N || r < 1 || r > 32 || p < 1 || p > 16) return null;
  const hash = Buffer.from(m[5]!, 'base64');
  if (hash.length < 16) return null;
  return { logN, r, p, salt: Buffer.from(m[4]!, 'base64'), hash };
}

/** Constant-time comparison of the derived key; a malformed hash never verifies. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const params = parseHash(encoded);
  if (!params) return false;
  const derived = await derive(password, params.salt, params.logN, params.r, params.p);
  return derived.length === params.hash.length && timingSafeEqual(derived, params.hash);
}

/**
 * A hash for an unknown user, computed once: checking against it takes as long as a real
 * check, so the reply time does not tell which user names exist.
 */
let decoy: Promise<string> | null = null;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(12).toString('base64'));
  return decoy;
}
