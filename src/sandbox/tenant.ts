import { readFileSync } from 'node:fs';

import YAML from 'yaml';
import { z } from 'zod';

import { RelayError } from '../errors.ts';
import { cidrMatcher, domainOf } from '../util/address.ts';
import { parseSize } from '../util/units.ts';

/**
 * The sandbox tenant: what an Exchange Online organisation looks like from outside, as far as
 * Bridgehead can observe it. Defaults follow ../shared/docs/m365-facts.md §3 (limits) and §1.3
 * (switches). Validated once, every problem reported with its path, like the main config.
 */

const sizeString = z.string().refine((v) => {
  try {
    parseSize(v);
    return true;
  } catch {
    return false;
  }
}, 'expected a size such as "35MB"');

const PERMISSIONS = ['SMTP.SendAsApp', 'Mail.Send', 'Mail.ReadWrite'] as const;

export const MailboxSchema = z.strictObject({
  address: z.email().describe('Primary SMTP address'),
  licensed: z
    .boolean()
    .default(true)
    .describe('Unlicensed mailboxes cannot send (5.2.253 family when repeated)'),
  smtpAuth: z
    .enum(['enabled', 'disabled', 'inherit'])
    .default('inherit')
    .describe('Set-CASMailbox -SmtpClientAuthenticationDisabled'),
  password: z.string().optional().describe('Password for Basic LOGIN (sandbox only)'),
  maxSendSize: sizeString.default('35MB').describe('MaxSendSize (facts §3.4)'),
  recipientLimit: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(500)
    .describe('RecipientLimits per message (facts §3.1)'),
  sendAs: z.array(z.string()).default([]).describe('Other mailboxes/addresses this mailbox may send as'),
});

export const AppSchema = z.strictObject({
  name: z.string().default('Bridgehead'),
  clientId: z.uuid().describe('Application (client) id'),
  objectId: z.uuid().optional().describe('Enterprise application (service principal) object id'),
  secrets: z.array(z.string().min(8)).default([]).describe('Client secrets'),
  certificates: z
    .array(z.string())
    .default([])
    .describe('PEM certificates whose keys may sign client assertions'),
  permissions: z
    .array(z.enum(PERMISSIONS))
    .default([])
    .describe('Granted application permissions (admin consent given)'),
  exchangeServicePrincipal: z.boolean().default(true).describe('New-ServicePrincipal was run in Exchange'),
  fullAccess: z
    .array(z.string())
    .default([])
    .describe('Mailboxes with Add-MailboxPermission FullAccess for the app'),
  sendAs: z
    .array(z.string())
    .default([])
    .describe('Addresses with Add-RecipientPermission SendAs for the app'),
});

export const ConnectorSchema = z.strictObject({
  name: z.string(),
  type: z.enum(['OnPremises', 'Partner']),
  senderIpRanges: z.array(z.string()).default([]).describe('IPv4 addresses or CIDR ranges'),
  tlsCertificateDomain: z
    .string()
    .optional()
    .describe('Domain that must be in the client certificate CN/SAN'),
  senderDomains: z.array(z.string()).default(['*']).describe('Partner: sender domains the connector covers'),
  restrictDomainsToIPAddresses: z.boolean().default(false),
  restrictDomainsToCertificate: z.boolean().default(false),
  requireTls: z.boolean().default(false),
});

export const TenantSchema = z
  .strictObject({
    tenantId: z.uuid().describe('Directory (tenant) id'),
    name: z.string().default('contoso.com').describe('Initial domain, also used for the MX host name'),
    acceptedDomains: z.array(z.string().min(1)).min(1).describe('Accepted domains'),
    mailboxes: z.array(MailboxSchema).default([]),
    apps: z.array(AppSchema).default([]),
    organization: z
      .strictObject({
        smtpClientAuthenticationDisabled: z
          .boolean()
          .default(false)
          .describe('Set-TransportConfig (true by default for tenants after 2020)'),
        basicAuthRetired: z
          .boolean()
          .default(false)
          .describe(
            'Basic auth removed for Client Submission: LOGIN gets 550 5.7.30 (the announced post-retirement reply)',
          ),
        basicAuthAllowed: z
          .boolean()
          .default(true)
          .describe('Basic LOGIN accepted for SMTP AUTH (off by default from end of 2026)'),
        rejectDirectSend: z.boolean().default(false).describe('Set-OrganizationConfig -RejectDirectSend'),
        allowLegacyTlsClients: z
          .boolean()
          .default(false)
          .describe('Accept TLS 1.0/1.1 on the submission host'),
      })
      .prefault({}),
    connectors: z.array(ConnectorSchema).default([]),
    faults: z
      .strictObject({
        seed: z.number().int().default(1),
        tokenDown: z.boolean().default(false),
        smtpTempErrorRatio: z.number().min(0).max(1).default(0),
        dropAfterData: z.boolean().default(false),
        smtpDelayMs: z.number().int().min(0).default(0),
        graphThrottleRatio: z.number().min(0).max(1).default(0),
        graphDelayMs: z.number().int().min(0).default(0),
      })
      .prefault({})
      .describe('Faults on demand (also settable through the control API)'),
    limits: z
      .strictObject({
        messagesPerMinute: z.number().int().min(1).default(30),
        recipientsPerDay: z.number().int().min(1).default(10_000),
        concurrentConnections: z.number().int().min(1).default(3),
        submissionSize: z.number().int().default(157_286_400).describe('SIZE advertised in EHLO (150 MiB)'),
        externalRecipientsPerDay: z
          .number()
          .int()
          .min(1)
          .default(10_000)
          .describe('TERRL for a one-licence tenant'),
        graphConcurrentRequests: z.number().int().min(1).default(4),
        graphRequestBytes: z
          .number()
          .int()
          .default(4 * 1024 * 1024),
        continuousErrorThreshold: z
          .number()
          .int()
          .min(1)
          .default(10)
          .describe('Errors in a row before 5.2.25x throttling (UNCONFIRMED: Microsoft gives no number)'),
      })
      .prefault({}),
  })
  .superRefine((t, ctx) => {
    const accepted = new Set(t.acceptedDomains.map((d) => d.toLowerCase()));
    t.mailboxes.forEach((m, i) => {
      if (!accepted.has(domainOf(m.address)))
        ctx.addIssue({
          code: 'custom',
          path: ['mailboxes', i, 'address'],
          message: `${m.address} is not in an accepted domain`,
        });
    });
    t.connectors.forEach((c, i) => {
      try {
        cidrMatcher(c.senderIpRanges);
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          path: ['connectors', i, 'senderIpRanges'],
          message: (err as Error).message,
        });
      }
      if (c.senderIpRanges.length === 0 && !c.tlsCertificateDomain)
        ctx.addIssue({
          code: 'custom',
          path: ['connectors', i],
          message: 'a connector needs senderIpRanges or tlsCertificateDomain',
        });
    });
  });

export type Tenant = z.output<typeof TenantSchema>;
export type Mailbox = z.output<typeof MailboxSchema>;
export type App = z.output<typeof AppSchema>;
export type Connector = z.output<typeof ConnectorSchema>;

export function parseTenant(input: unknown, source = 'tenant'): Tenant {
  const r = TenantSchema.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `  - ${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
  throw new RelayError('ERELAY_CONFIG_INVALID', `invalid sandbox tenant ${source}:\n${lines.join('\n')}`);
}

export function loadTenantFile(path: string): Tenant {
  let doc: unknown;
  try {
    doc = YAML.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new RelayError(
      'ERELAY_CONFIG_READ',
      `cannot read sandbox tenant ${path}: ${(cause as Error).message}`,
      { cause },
    );
  }
  return parseTenant(doc, path);
}

/** Fixed ids so the demo relay's configuration can name them. */
export const DEMO = {
  tenantId: '7d3c6a52-0d4e-4e7f-9a55-2f0a1c1b0c01',
  clientId: '3f6d1a2b-8c4e-4d5f-9e6a-7b8c9d0e1f23',
  objectId: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
  clientSecret: 'sandbox-demo-secret-not-for-production',
} as const;

/** contoso.com: alice (a person), scanner (the service account), an app with SMTP.SendAsApp and Mail.Send. */
export function demoTenant(): Tenant {
  return parseTenant(
    {
      tenantId: DEMO.tenantId,
      name: 'contoso.com',
      acceptedDomains: ['contoso.com'],
      mailboxes: [
        { address: 'alice@contoso.com', password: 'alice-password' },
        { address: 'scanner@contoso.com', password: 'scanner-password', smtpAuth: 'enabled' },
      ],
      apps: [
        {
          name: 'Bridgehead relay',
          clientId: DEMO.clientId,
          objectId: DEMO.objectId,
          secrets: [DEMO.clientSecret],
          permissions: ['SMTP.SendAsApp', 'Mail.Send', 'Mail.ReadWrite'],
          fullAccess: ['scanner@contoso.com'],
          sendAs: ['scanner@contoso.com'],
        },
      ],
    },
    'demo',
  );
}

export function isAccepted(tenant: Tenant, address: string): boolean {
  const d = domainOf(address);
  return tenant.acceptedDomains.some((a) => a.toLowerCase() === d);
}

export function findMailbox(tenant: Tenant, address: string): Mailbox | undefined {
  const a = address.toLowerCase();
  return tenant.mailboxes.find((m) => m.address.toLowerCase() === a);
}

/** The classic MX host name for a domain: dots become dashes (facts §4.2). */
export function mxHostName(domain: string): string {
  return `${domain.replace(/\./g, '-')}.mail.protection.outlook.com`;
}
