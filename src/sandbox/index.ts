import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { type Logger, silentLogger } from '../observability/logger.ts';
import { type Faults, NO_FAULTS, RollingCounters, type SandboxContext } from './context.ts';
import { startHttp } from './http.ts';
import { type SmtpHost, startMxHost } from './mx.ts';
import { createSandboxPki } from './pki.ts';
import { SandboxState } from './state.ts';
import { startSubmissionHost } from './submission.ts';
import { demoTenant, mxHostName, type Tenant } from './tenant.ts';
import { TokenService } from './tokens.ts';

export interface SandboxOptions {
  tenant?: Tenant;
  host?: string;
  mxPort?: number;
  submissionPort?: number;
  httpPort?: number;
  faults?: Partial<Faults>;
  /** Where mailbox folders are written as .eml files and ca.pem is exported; memory only when absent. */
  dir?: string;
  log?: Logger;
  now?: () => number;
}

export interface Sandbox {
  tenant: Tenant;
  state: SandboxState;
  /** PEM of the sandbox CA: trust it to verify every sandbox endpoint. */
  caPem: string;
  /** ca.pem under `dir`, when a dir was given. */
  caFile: string | null;
  mx: { host: string; port: number; name: string };
  submission: { host: string; port: number };
  /** https://localhost:PORT: the token endpoint (authority = url + '/' + tenantId) and the control API. */
  http: { url: string; authority: string };
  /** Faults in force; change them at run time (also through PUT /sandbox/faults). */
  faults: Faults;
  tokens: TokenService;
  /** Makes a client certificate signed by the sandbox CA (certificate-based connectors). */
  issueClientCertificate: SandboxContext['pki']['issueClientCertificate'];
  reset(): void;
  /** Closes every open SMTP connection to the submission and MX hosts. */
  disconnectAll(): void;
  stop(): Promise<void>;
}

/**
 * An offline Microsoft 365 tenant: the endpoints Bridgehead talks to, behaving as
 * ../shared/docs/m365-facts.md describes. Runs alone (`bridgehead sandbox`), inside the demo
 * relay, and in tests on port 0.
 */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const tenant = options.tenant ?? demoTenant();
  const host = options.host ?? '127.0.0.1';
  const mxName = mxHostName(tenant.name);
  const pki = await createSandboxPki([
    'localhost',
    '127.0.0.1',
    mxName,
    'smtp.office365.com',
    'graph.microsoft.com',
    'login.microsoftonline.com',
  ]);
  const ctx: SandboxContext = {
    tenant,
    state: new SandboxState(options.dir ? join(options.dir, 'mailboxes') : undefined),
    pki,
    log: options.log ?? silentLogger(),
    now: options.now ?? Date.now,
    counters: new RollingCounters(),
    faults: { ...NO_FAULTS, ...tenant.faults, ...options.faults },
  };
  const tokens = new TokenService(ctx.now);
  let caFile: string | null = null;
  if (options.dir) {
    mkdirSync(options.dir, { recursive: true });
    caFile = join(options.dir, 'ca.pem');
    writeFileSync(caFile, pki.caPem);
  }
  const hosts: SmtpHost[] = [];
  try {
    const mx = await startMxHost(ctx, { host, port: options.mxPort ?? 0 });
    hosts.push(mx);
    const submission = await startSubmissionHost(ctx, tokens, { host, port: options.submissionPort ?? 0 });
    hosts.push(submission);
    const http = await startHttp(ctx, tokens, { host, port: options.httpPort ?? 0 });
    hosts.push({ port: 0, close: () => http.app.close() });
    if (options.dir) {
      // Where a running sandbox can be reached, for `bridgehead sandbox trace` and other tools.
      const endpoints = {
        http: http.url,
        authority: `${http.url}/${tenant.tenantId}`,
        mx: mx.port,
        submission: submission.port,
        pid: process.pid,
      };
      writeFileSync(join(options.dir, 'endpoints.json'), `${JSON.stringify(endpoints, null, 2)}\n`);
    }
    return {
      tenant,
      state: ctx.state,
      caPem: pki.caPem,
      caFile,
      mx: { host, port: mx.port, name: mxName },
      submission: { host, port: submission.port },
      http: { url: http.url, authority: `${http.url}/${tenant.tenantId}` },
      faults: ctx.faults,
      tokens,
      issueClientCertificate: pki.issueClientCertificate,
      disconnectAll() {
        for (const h of hosts) h.disconnectAll?.();
      },
      reset() {
        ctx.state.reset();
        ctx.counters.reset();
      },
      async stop() {
        await Promise.all(hosts.map((h) => h.close()));
      },
    };
  } catch (err) {
    await Promise.all(hosts.map((h) => h.close()));
    throw err;
  }
}
