import {
  constants,
  createHash,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
  sign,
  verify,
  X509Certificate,
} from 'node:crypto';

/**
 * Access tokens as Entra issues them for the client-credentials flow: RS256 JWTs whose
 * `roles` claim lists the application permissions granted with admin consent. The SMTP and
 * Graph sides of the sandbox verify them with verifyAccessToken().
 */
export const AUDIENCES = {
  exchange: 'https://outlook.office365.com',
  graph: 'https://graph.microsoft.com',
} as const;

export type Audience = (typeof AUDIENCES)[keyof typeof AUDIENCES];

export interface TokenClaims {
  aud: string;
  iss: string;
  tid: string;
  appid: string;
  oid: string;
  roles: string[];
  iat: number;
  nbf: number;
  exp: number;
}

export type VerifyResult = ({ ok: true } & TokenClaims) | { ok: false; reason: string };

/** Entra's app-only tokens live for about an hour (facts §1.4 calls ~3600 s standard behaviour). */
export const TOKEN_LIFETIME_S = 3599;

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export class TokenService {
  #privateKey: KeyObject;
  #publicKey: KeyObject;
  readonly kid = randomUUID();
  /** How many tokens were issued (tests check caching and single flight with it). */
  issued = 0;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.#privateKey = privateKey;
    this.#publicKey = publicKey;
    this.#now = now;
  }

  /**
   * A new signing key: every token issued so far stops verifying, as when Entra rolls its keys
   * or a token is revoked. Tests use it to prove a relay renews its token after a 535.
   */
  rotateKey(): void {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.#privateKey = privateKey;
    this.#publicKey = publicKey;
  }

  issue(input: { tenantId: string; appId: string; objectId: string; audience: Audience; roles: string[] }): {
    token: string;
    expiresIn: number;
  } {
    this.issued++;
    const iat = Math.floor(this.#now() / 1000);
    const claims: TokenClaims = {
      aud: input.audience,
      iss: `https://sts.windows.net/${input.tenantId}/`,
      tid: input.tenantId,
      appid: input.appId,
      oid: input.objectId,
      roles: input.roles,
      iat,
      nbf: iat,
      exp: iat + TOKEN_LIFETIME_S,
    };
    const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', kid: this.kid }));
    const body = b64url(JSON.stringify(claims));
    const signature = sign('sha256', Buffer.from(`${head}.${body}`), this.#privateKey);
    return { token: `${head}.${body}.${b64url(signature)}`, expiresIn: TOKEN_LIFETIME_S };
  }

  verifyAccessToken(token: string, audience: Audience, tenantId: string): VerifyResult {
    const parts = token.split('.');
    if (parts.length !== 3) return { ok: false, reason: 'not a JWT' };
    const [head, body, sig] = parts as [string, string, string];
    if (!verify('sha256', Buffer.from(`${head}.${body}`), this.#publicKey, Buffer.from(sig, 'base64url')))
      return { ok: false, reason: 'bad signature' };
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as TokenClaims;
    } catch {
      return { ok: false, reason: 'unreadable claims' };
    }
    const now = Math.floor(this.#now() / 1000);
    if (claims.exp <= now) return { ok: false, reason: 'expired' };
    if (claims.aud !== audience) return { ok: false, reason: `audience ${claims.aud}, expected ${audience}` };
    if (claims.tid !== tenantId) return { ok: false, reason: 'token of another tenant' };
    return { ok: true, ...claims };
  }
}

/**
 * Checks a client assertion (RFC 7523): a JWT signed with the private key of a certificate
 * registered on the app, naming the app as iss and sub and the token endpoint as aud.
 */
export function verifyClientAssertion(
  assertion: string,
  input: { clientId: string; tokenEndpoint: string; certificates: string[]; now: number },
): { ok: true } | { ok: false; code: number; reason: string } {
  const parts = assertion.split('.');
  if (parts.length !== 3)
    return { ok: false, code: 50027, reason: 'Invalid JWT token. The token is malformed.' };
  let header: { alg?: string; x5t?: string; 'x5t#S256'?: string };
  let claims: { aud?: string; iss?: string; sub?: string; exp?: number; nbf?: number };
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString()) as typeof header;
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()) as typeof claims;
  } catch {
    return { ok: false, code: 50027, reason: 'Invalid JWT token. The token is malformed.' };
  }
  const cert = input.certificates
    .map((pem) => new X509Certificate(pem))
    .find((c) => {
      const der = c.raw;
      return (
        header.x5t === createHash('sha1').update(der).digest('base64url') ||
        header['x5t#S256'] === createHash('sha256').update(der).digest('base64url')
      );
    });
  if (!cert)
    return {
      ok: false,
      code: 700027,
      reason: 'Client assertion failed signature validation. (Reason - The key was not found.)',
    };
  // RS256, PS256 (what MSAL sends today) or ES256, verified against the registered certificate's key.
  const key = cert.publicKey;
  const signature = Buffer.from(parts[2]!, 'base64url');
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  const good =
    header.alg === 'PS256'
      ? verify('sha256', signed, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature)
      : header.alg === 'ES256'
        ? verify('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, signature)
        : header.alg === 'RS256' && verify('sha256', signed, key, signature);
  if (!good) return { ok: false, code: 700027, reason: 'Client assertion failed signature validation.' };
  const now = Math.floor(input.now / 1000);
  if (claims.aud !== input.tokenEndpoint)
    return {
      ok: false,
      code: 700212,
      reason: `No matching federated identity record found for presented assertion audience '${claims.aud}'.`,
    };
  if (claims.iss !== input.clientId || claims.sub !== input.clientId)
    return {
      ok: false,
      code: 700021,
      reason: "Client assertion application identifier doesn't match 'client_id' parameter.",
    };
  if (typeof claims.exp !== 'number' || claims.exp <= now)
    return { ok: false, code: 700024, reason: 'Client assertion is not within its valid time range.' };
  return { ok: true };
}
