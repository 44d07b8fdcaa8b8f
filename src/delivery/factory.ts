import { readFileSync } from 'node:fs';

import type { RouteConfig } from '../config/schema.ts';
import { RelayError } from '../errors.ts';
import { TokenProvider, type TokenResult } from '../oauth/token-provider.ts';
import type { Logger } from '../observability/logger.ts';
import type { BudgetLedger } from '../scheduler/ledger.ts';
import { type ConcurrencySlots, LocalSlots, SharedSlots } from '../scheduler/slots.ts';
import { parseSize } from '../util/units.ts';
import { CaptureTransport } from './capture.ts';
import { GRAPH_CONCURRENCY_PER_APP, GraphTransport } from './graph.ts';
import { M365Transport } from './m365.ts';
import { M365SubmissionTransport } from './m365-submission.ts';
import { MxLookupTransport } from './mx-lookup.ts';
import { SmtpTransport } from './smtp.ts';
import type { Transport } from './transport.ts';

/** Where the in-process sandbox listens, the CA that signed its certificates, and the demo app's credentials. */
export interface SandboxEndpoint {
  host: string;
  /** MX host port and name. */
  port: number;
  servername: string;
  submissionPort: number;
  authorityHost: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** The demo's service account, which the demo app may send as. */
  mailbox: string;
  caPem: string;
}

/** Graph slots of this process, for callers that bring none (one per delivery thread otherwise). */
const processGraphSlots = new LocalSlots(GRAPH_CONCURRENCY_PER_APP);

/** Builds the transport a route names. New kinds (Microsoft 365 methods) are added here. */
export function createTransport(
  route: RouteConfig,
  options: {
    heloName: string;
    log: Logger;
    sandbox?: SandboxEndpoint;
    tokens?: (tenant: string) => TokenProvider;
    caPemFor?: (tenant: string) => string | undefined;
    dnsServers?: readonly string[];
    /** Token outcomes of the sandbox's demo app (the configured tenants report through `tokens`). */
    onToken?: (tenant: string, result: TokenResult) => void;
    /** Graph's concurrent requests per app; one object for every transport (and node) that shares it. */
    graphSlots?: ConcurrencySlots;
    /**
     * A ledger other nodes share: submission connections per mailbox are then counted across
     * the nodes (a connection per message, held in a shared slot).
     */
    sharedLedger?: BudgetLedger;
    /** Told when a submission waited for a connection slot other nodes held. */
    onSlotWait?: (key: string, waitedMs: number) => void;
  },
): Transport {
  const t = route.transport;
  switch (t.kind) {
    case 'm365': {
      const needsToken =
        t.methods.includes('graph') || (t.methods.includes('submission') && t.submission.auth === 'oauth');
      const tokens = needsToken ? (options.tokens?.(t.tenant) ?? null) : null;
      const caPem = options.caPemFor?.(t.tenant);
      const sender = { mailbox: t.mailbox, ...t.sender, pool: t.pool };
      const methods = t.methods.map((method): Transport => {
        if (method === 'direct-send' || method === 'connector') {
          const clientCert =
            method === 'connector' && t.mx.clientCert
              ? {
                  certPem: readFileSync(t.mx.clientCert.cert, 'utf8'),
                  keyPem: readFileSync(t.mx.clientCert.key, 'utf8'),
                }
              : undefined;
          const kind = `m365-${method}`;
          const toHost = (host: string, servername: string | undefined) =>
            new SmtpTransport(
              {
                kind: 'smtp',
                host,
                port: t.mx.port,
                servername,
                // Connectors always require TLS (the certificate is presented in the handshake).
                security: method === 'connector' || t.mx.tls === 'required' ? 'starttls' : 'opportunistic',
                maxConnections: 5,
                maxMessagesPerConnection: 100,
                connectionTimeout: '30s',
                socketTimeout: '5m',
              },
              { heloName: options.heloName, log: options.log, caPem, clientCert, kind },
            );
          if (t.mx.host) return toHost(t.mx.host, t.mx.servername);
          return new MxLookupTransport(kind, t.mx.domain!, options.dnsServers ?? [], (host, name) =>
            toHost(host, t.mx.servername ?? name),
          );
        }
        if (method === 'graph') {
          if (!tokens)
            throw new RelayError(
              'ERELAY_TRANSPORT_CONFIG',
              `Graph needs the app credentials of tenant "${t.tenant}"`,
            );
          return new GraphTransport(
            {
              baseUrl: t.graph.baseUrl,
              app: t.tenant,
              saveToSentItems: t.graph.saveToSentItems,
              mailbox: t.mailbox,
              caPem,
              sender,
            },
            tokens,
            options.graphSlots ?? processGraphSlots,
          );
        }
        if (t.submission.auth === 'oauth' && !tokens)
          throw new RelayError(
            'ERELAY_TRANSPORT_CONFIG',
            `no token provider for Microsoft 365 tenant "${t.tenant}"`,
          );
        return new M365SubmissionTransport(
          {
            ...t.submission,
            maxSize: parseSize(t.submission.maxSize),
            mailbox: t.mailbox,
            heloName: options.heloName,
            caPem,
            sender,
          },
          {
            tokens: t.submission.auth === 'oauth' ? tokens : null,
            log: options.log,
            ...(options.sharedLedger
              ? {
                  connections: new SharedSlots(options.sharedLedger, t.submission.maxConnections, {
                    ...(options.onSlotWait ? { onWait: options.onSlotWait } : {}),
                  }),
                }
              : {}),
          },
        );
      });
      return methods.length === 1 ? methods[0]! : new M365Transport(methods);
    }
    case 'smtp':
      return new SmtpTransport(t, options);
    case 'capture':
      return new CaptureTransport(t.dir!);
    case 'sandbox': {
      const sb = options.sandbox;
      if (!sb)
        throw new RelayError(
          'ERELAY_TRANSPORT_CONFIG',
          'a route uses the sandbox, but no sandbox is running',
        );
      if (t.method === 'submission') {
        // Client submission with an app-only OAuth2 token, exactly as against a real tenant.
        const tokens = new TokenProvider({
          tenantId: sb.tenantId,
          clientId: sb.clientId,
          clientSecret: sb.clientSecret,
          authorityHost: sb.authorityHost,
          caPem: sb.caPem,
          ...(options.onToken ? { onResult: (r: TokenResult) => options.onToken!('sandbox', r) } : {}),
        });
        return new M365SubmissionTransport(
          {
            host: sb.host,
            port: sb.submissionPort,
            servername: 'smtp.office365.com',
            mailbox: sb.mailbox,
            auth: 'oauth',
            maxConnections: 3,
            heloName: options.heloName,
            caPem: sb.caPem,
            maxRecipients: 500,
            maxSize: 35 * 1024 * 1024,
            // The demo sends as its service account; other From addresses are rewritten to it.
            sender: { mailbox: sb.mailbox, mode: 'fixed', map: {}, sendAs: [], fromPolicy: 'rewrite' },
          },
          { tokens, log: options.log },
        );
      }
      // The demo tenant's MX, with STARTTLS required and the sandbox CA as the only extra trust.
      return new SmtpTransport(
        {
          kind: 'smtp',
          host: sb.host,
          port: sb.port,
          servername: sb.servername,
          security: 'starttls',
          maxConnections: 5,
          maxMessagesPerConnection: 100,
          connectionTimeout: '30s',
          socketTimeout: '5m',
        },
        { ...options, caPem: sb.caPem },
      );
    }
  }
}
