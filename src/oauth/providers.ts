import { readFileSync } from 'node:fs';

import type { Config } from '../config/schema.ts';
import { RelayError } from '../errors.ts';
import { TokenProvider, type TokenResult } from './token-provider.ts';

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new RelayError('ERELAY_TLS_FILES', `cannot read ${what} ${path}: ${(cause as Error).message}`, {
      cause,
    });
  }
}

/** One token provider per configured tenant, created on first use, plus each tenant's extra CA. */
export function tokenProvidersFromConfig(
  config: Readonly<Config>,
  onResult?: (tenant: string, result: TokenResult) => void,
): {
  tokens: (tenant: string) => TokenProvider;
  caPemFor: (tenant: string) => string | undefined;
} {
  const providers = new Map<string, TokenProvider>();
  const cas = new Map<string, string | undefined>();
  const caPemFor = (name: string) => {
    if (!cas.has(name)) {
      const t = config.microsoft365.tenants[name];
      cas.set(name, t?.ca ? readPem(t.ca, 'CA file') : undefined);
    }
    return cas.get(name);
  };
  const tokens = (name: string) => {
    let p = providers.get(name);
    if (!p) {
      const t = config.microsoft365.tenants[name];
      if (!t)
        throw new RelayError('ERELAY_TRANSPORT_CONFIG', `Microsoft 365 tenant "${name}" is not configured`);
      p = new TokenProvider({
        tenantId: t.tenantId,
        clientId: t.clientId,
        clientSecret: t.clientSecret,
        certificate: t.certificate
          ? {
              certPem: readPem(t.certificate.cert, 'certificate'),
              keyPem: readPem(t.certificate.key, 'private key'),
            }
          : undefined,
        authorityHost: t.authorityHost,
        caPem: caPemFor(name),
        ...(onResult ? { onResult: (r: TokenResult) => onResult(name, r) } : {}),
      });
      providers.set(name, p);
    }
    return p;
  };
  return { tokens, caPemFor };
}
