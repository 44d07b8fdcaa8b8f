import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Admin API tokens: random 32-byte values shown once; the configuration keeps their SHA-256
 * (a token has 256 bits of entropy, so a fast hash is enough, unlike a password).
 */
export function newApiToken(): { token: string; hash: string } {
  const token = `bh_${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashApiToken(token) };
}

export function hashApiToken(token: string): string {
  return `sha256:${createHash('sha256').update(token).digest('hex')}`;
}

/** The name of the token the Authorization header carries, or null. Compares in constant time. */
export function tokenName(
  header: string | undefined,
  tokens: Readonly<Record<string, string>>,
): string | null {
  const m = /^Bearer ([A-Za-z0-9_\-.~+/=]{16,200})$/.exec(header ?? '');
  if (!m) return null;
  const presented = Buffer.from(hashApiToken(m[1]!));
  let found: string | null = null;
  for (const [name, hash] of Object.entries(tokens)) {
    const expected = Buffer.from(hash);
    if (expected.length === presented.length && timingSafeEqual(expected, presented)) found = name;
  }
  return found;
}
