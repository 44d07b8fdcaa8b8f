import { createHash, X509Certificate } from 'node:crypto';

import { ConfidentialClientApplication } from '@azure/msal-node';

import { networkClientWithCa } from './network.ts';

/** How a token failure should be treated: a configuration problem stops the route, anything else is retried. */
export type TokenFailureKind = 'configuration' | 'temporary';

/** AADSTS codes that mean the app registration or its credential is wrong: retrying cannot help. */
const CONFIGURATION_CODES = new Set([
  7000215, // invalid client secret
  7000222, // client secret expired
  700016, // application not found in the directory
  90002, // tenant not found
  700027, // certificate / assertion signature not valid
  700024, // assertion outside its valid time (clock or certificate problem)
  700021, // assertion issuer mismatch
  1002012, // invalid scope
  65001, // consent missing
  500011, // resource principal not found in the tenant
]);

export class TokenError extends Error {
  readonly kind: TokenFailureKind;
  readonly aadsts: number | null;

  constructor(message: string, kind: TokenFailureKind, aadsts: number | null, cause?: unknown) {
    super(message, { cause });
    this.name = 'TokenError';
    this.kind = kind;
    this.aadsts = aadsts;
  }
}

export interface TokenProviderOptions {
  tenantId: string;
  clientId: string;
  clientSecret?: string;
  /** PEM certificate and its private key; the SHA-256 thumbprint is computed. */
  certificate?: { certPem: string; keyPem: string };
  /** https://login.microsoftonline.com (default), a sovereign cloud's, or the sandbox's. */
  authorityHost?: string;
  /** Extra CA certificates to trust for the token endpoint (private authority, sandbox). */
  caPem?: string;
  /** Refresh this long before expiry (default 5 minutes). */
  refreshBeforeMs?: number;
  now?: () => number;
  /** Told of every token obtained or refused (metrics, readiness). */
  onResult?: (result: TokenResult) => void;
}

export type TokenResult =
  | { ok: true; scope: string; expiresAt: number }
  | { ok: false; scope: string; kind: TokenFailureKind; message: string };

export interface AccessToken {
  token: string;
  expiresAt: number;
}

export const SCOPES = {
  exchange: 'https://outlook.office365.com/.default',
  graph: 'https://graph.microsoft.com/.default',
} as const;

/**
 * App-only tokens per resource through MSAL's client-credentials flow. Tokens are cached and
 * renewed ahead of expiry; concurrent callers share one request in flight (single flight), so
 * twenty deliveries starting together cost one round trip to Entra.
 */
export class TokenProvider {
  readonly #app: ConfidentialClientApplication;
  readonly #cache = new Map<string, AccessToken>();
  readonly #inFlight = new Map<string, Promise<AccessToken>>();
  readonly #refreshBeforeMs: number;
  readonly #now: () => number;
  readonly #onResult: ((result: TokenResult) => void) | undefined;
  readonly tenantId: string;
  readonly clientId: string;

  constructor(options: TokenProviderOptions) {
    if (!options.clientSecret && !options.certificate)
      throw new TokenError('a client secret or a certificate is required', 'configuration', null);
    this.tenantId = options.tenantId;
    this.clientId = options.clientId;
    this.#refreshBeforeMs = options.refreshBeforeMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
    this.#onResult = options.onResult;
    const authorityHost = (options.authorityHost ?? 'https://login.microsoftonline.com').replace(/\/$/, '');
    this.#app = new ConfidentialClientApplication({
      auth: {
        clientId: options.clientId,
        authority: `${authorityHost}/${options.tenantId}`,
        // A named authority host skips MSAL's instance discovery (sovereign clouds, the sandbox).
        knownAuthorities: [new URL(authorityHost).host],
        ...(options.certificate
          ? {
              clientCertificate: {
                thumbprintSha256: thumbprintSha256(options.certificate.certPem),
                privateKey: options.certificate.keyPem,
                x5c: options.certificate.certPem,
              },
            }
          : { clientSecret: options.clientSecret }),
      },
      system: options.caPem ? { networkClient: networkClientWithCa(options.caPem) } : undefined,
    });
  }

  /** A valid token for the scope; `force` renews even a cached one (after the resource refused it). */
  async get(scope: string, force = false): Promise<AccessToken> {
    const cached = this.#cache.get(scope);
    if (!force && cached && cached.expiresAt - this.#refreshBeforeMs > this.#now()) return cached;
    const pending = this.#inFlight.get(scope);
    if (pending) return pending;
    const request = this.#acquire(scope).finally(() => this.#inFlight.delete(scope));
    this.#inFlight.set(scope, request);
    return request;
  }

  /** Drops the cached token so the next get() asks Entra again. */
  invalidate(scope: string): void {
    this.#cache.delete(scope);
  }

  async #acquire(scope: string): Promise<AccessToken> {
    try {
      // This class is the cache: whenever it asks, it wants a new token, not MSAL's cached one.
      const result = await this.#app.acquireTokenByClientCredential({ scopes: [scope], skipCache: true });
      if (!result?.accessToken)
        throw new TokenError('the token endpoint returned no access token', 'temporary', null);
      const token = {
        token: result.accessToken,
        expiresAt: result.expiresOn?.getTime() ?? this.#now() + 3_000_000,
      };
      this.#cache.set(scope, token);
      this.#onResult?.({ ok: true, scope, expiresAt: token.expiresAt });
      return token;
    } catch (err) {
      const e = classifyTokenError(err);
      this.#onResult?.({ ok: false, scope, kind: e.kind, message: e.message });
      throw e;
    }
  }
}

/** Maps an MSAL error to configuration (stop, alert, keep mail queued) or temporary (retry). */
export function classifyTokenError(err: unknown): TokenError {
  if (err instanceof TokenError) return err;
  const e = err as { errorCode?: string; errorMessage?: string; message?: string; subError?: string };
  const text = `${e.errorMessage ?? ''} ${e.message ?? ''}`;
  const aadsts = Number(/AADSTS(\d+)/.exec(text)?.[1] ?? NaN);
  const code = Number.isFinite(aadsts) ? aadsts : null;
  const kind: TokenFailureKind =
    code !== null && CONFIGURATION_CODES.has(code) ? 'configuration' : 'temporary';
  const summary =
    code !== null
      ? `AADSTS${code}: ${
          text
            .split(/AADSTS\d+: /)[1]
            ?.split(' Trace ID')[0]
            ?.trim() ?? ''
        }`
      : (e.message ?? String(err));
  return new TokenError(`token request failed: ${summary}`, kind, code, err);
}

/** SHA-256 thumbprint (hex) of a PEM certificate, as MSAL and Entra name certificate credentials. */
export function thumbprintSha256(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}
