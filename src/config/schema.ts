import { z } from 'zod';

import { cidrMatcher } from '../util/address.ts';
import { parseRetrySchedule } from '../util/retry-schedule.ts';
import { parseDuration, parseSize } from '../util/units.ts';

/**
 * The one configuration schema. Every key has a type, a default (or is optional) and a
 * one-line doc; docs/configuration.md is checked against this file by a test.
 * Values with units stay strings here ("30s", "25MB") so `config print` shows what the
 * admin wrote; they are validated here and converted where they are used.
 */

const duration = (def: string, doc: string) =>
  z
    .string()
    .refine((v) => tryParse(parseDuration, v), {
      message: 'expected a duration such as "30s", "5m", "1h", "5d"',
    })
    .default(def)
    .describe(doc);

const size = (def: string, doc: string) =>
  z
    .string()
    .refine((v) => tryParse(parseSize, v), { message: 'expected a size such as "512KB", "25MB"' })
    .default(def)
    .describe(doc);

function tryParse(fn: (v: string) => unknown, v: string): boolean {
  try {
    fn(v);
    return true;
  } catch {
    return false;
  }
}

/** A secret: redacted by `config print` and in logs; may also come from `<key>File` / `<KEY>_FILE`. */
const secret = (doc: string) => z.string().min(1).optional().meta({ secret: true, description: doc });

const cidr = z.string().refine((v) => tryParse((x) => cidrMatcher([x]), v), {
  message: 'expected an IP address or CIDR range such as "10.0.0.0/8" or "::1"',
});

const port = z.number().int().min(0).max(65535);

export const ListenerSchema = z.strictObject({
  name: z.string().min(1).optional().describe('Name shown in logs and Received headers (default: host:port)'),
  host: z.string().default('127.0.0.1').describe('Address to bind; 0.0.0.0 or :: for every interface'),
  port: port.default(2525).describe('TCP port; 0 picks a free one (tests)'),
  mode: z
    .enum(['plain', 'starttls', 'implicit-tls', 'auto'])
    .default('plain')
    .describe(
      'plain: no TLS; starttls: offer STARTTLS; implicit-tls: TLS from the first byte; auto: implicit TLS if the client opens with a TLS handshake, else STARTTLS',
    ),
  cert: z
    .string()
    .optional()
    .describe('PEM certificate chain file (reloaded when it changes); TLS modes need it'),
  key: z.string().optional().describe('PEM private key file matching cert (reloaded with it)'),
  tlsProfile: z
    .enum(['modern', 'legacy'])
    .default('modern')
    .describe(
      'modern: TLS 1.2+; legacy: TLS 1.0+ and the old ciphers 2010-era printers need (use on a listener of its own)',
    ),
  clientCa: z
    .string()
    .optional()
    .describe(
      'PEM CA file: ask clients for a certificate and verify it against these (clients[].match.certificates)',
    ),
  requireTls: z.boolean().default(false).describe('Refuse MAIL until the session is encrypted (530 5.7.0)'),
  allowPlainAuth: z
    .boolean()
    .default(false)
    .describe('Offer AUTH without TLS (passwords cross the wire readable); only on a trusted LAN segment'),
  proxyFrom: z
    .array(cidr)
    .default([])
    .describe(
      'Load balancers whose connections start with a PROXY protocol v1/v2 header; the header is required from them and ignored from anyone else',
    ),
  tlsDetectWait: duration(
    '500ms',
    'Mode auto: how long to wait for a TLS handshake before greeting the client in plain text',
  ),
});

const addressPattern = z
  .string()
  .min(1)
  .refine((v) => /^[^\s@]*@?[^\s@]+$/.test(v), {
    message: 'expected an address, "@domain" or a pattern with * such as "*@contoso.com"',
  });

export const ClientRuleSchema = z.strictObject({
  name: z.string().min(1).describe('Name of the rule, shown in logs, quotas and the Received header'),
  match: z
    .strictObject({
      listeners: z
        .array(z.string())
        .optional()
        .describe('Listener names this rule applies to (default: all)'),
      addresses: z.array(cidr).optional().describe('Client addresses or CIDR ranges (default: any)'),
      users: z
        .array(z.string().min(1))
        .optional()
        .describe(
          'SMTP AUTH users this rule requires; "*" is any authenticated user (default: no AUTH needed)',
        ),
      certificates: z
        .array(z.string().min(1))
        .optional()
        .describe(
          'Verified TLS client certificates: subject CN / DNS name, or "sha256:<fingerprint>" (default: none needed)',
        ),
    })
    .prefault({})
    .describe('Who this rule is for: every given condition must hold'),
  senders: z
    .array(addressPattern)
    .optional()
    .describe(
      'Envelope senders and From addresses allowed: "a@x", "@domain", "*@x"; "$user" is the AUTH user (default: any)',
    ),
  recipients: z
    .union([z.literal('any'), z.literal('internal'), z.array(z.string().min(1))])
    .default('any')
    .describe('Recipients allowed: any, internal (relay.internalDomains), or a list of domains'),
  route: z
    .string()
    .optional()
    .describe("Route for this client's mail (default: relay.routing, then defaultRoute)"),
  mailbox: z
    .email()
    .optional()
    .describe("Microsoft 365 mailbox that sends this client's mail (overrides the route's sender mapping)"),
  rate: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe('Messages a minute per client (per AUTH user, else per address); more get 450 4.7.1'),
  dailyRecipients: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe('Recipients a day (UTC) per client; more get 452 4.5.3'),
  maxSize: z
    .string()
    .refine((v) => tryParse(parseSize, v), { message: 'expected a size such as "512KB", "25MB"' })
    .optional()
    .describe('Largest message for this client (default: limits.maxMessageSize)'),
});

export const SmtpTransportSchema = z.strictObject({
  kind: z.literal('smtp').describe('A generic SMTP smarthost (any provider, another MTA)'),
  host: z.string().min(1).describe('Smarthost name or address'),
  port: port.default(587).describe('Smarthost port'),
  security: z
    .enum(['starttls', 'implicit', 'opportunistic', 'none'])
    .default('starttls')
    .describe(
      'starttls: STARTTLS required; implicit: TLS from connect (465); opportunistic: STARTTLS if offered; none: never TLS',
    ),
  ca: z.string().optional().describe('PEM file of CA certificates to trust in addition to the system store'),
  servername: z.string().optional().describe('Name to verify the certificate against (default: host)'),
  heloName: z.string().optional().describe('Name sent in EHLO (default: relay.hostname)'),
  auth: z
    .strictObject({
      user: z.string().min(1).describe('Username for AUTH'),
      pass: secret('Password for AUTH'),
      method: z
        .enum(['PLAIN', 'LOGIN'])
        .optional()
        .describe('Force one AUTH mechanism (default: best offered)'),
    })
    .optional()
    .describe('Credentials for the smarthost; omit for none'),
  maxConnections: z.number().int().min(1).max(100).default(5).describe('Pooled connections to the smarthost'),
  maxMessagesPerConnection: z
    .number()
    .int()
    .min(1)
    .default(100)
    .describe('Messages sent over one connection before it is recycled'),
  connectionTimeout: duration('30s', 'Time allowed to connect'),
  socketTimeout: duration('5m', 'Time of inactivity after which the upstream connection is dropped'),
});

export const CaptureTransportSchema = z.strictObject({
  kind: z.literal('capture').describe('Writes each delivered message as an .eml file (demo and tests)'),
  dir: z.string().optional().describe('Directory for the .eml files (default: <dataDir>/captured)'),
});

export const M365TransportSchema = z.strictObject({
  kind: z.literal('m365').describe('Microsoft 365 (Exchange Online)'),
  tenant: z.string().min(1).describe('Name of the tenant under microsoft365.tenants'),
  methods: z
    .array(z.enum(['submission', 'graph', 'direct-send', 'connector']))
    .min(1)
    .default(['submission'])
    .describe(
      'Methods in order of preference; a method-level failure falls over to the next (submission, graph)',
    ),
  mailbox: z
    .email()
    .describe('The licensed mailbox that sends (SMTP AUTH user); it needs SendAs for other From addresses'),
  pool: z
    .array(z.email())
    .default([])
    .describe(
      'More service-account mailboxes that send like mailbox (sender mode fixed); mail is spread over them by remaining budget',
    ),
  sender: z
    .strictObject({
      mode: z
        .enum(['fixed', 'envelope', 'map'])
        .default('fixed')
        .describe('Which mailbox sends: fixed (mailbox), envelope (the envelope sender is a mailbox), map'),
      map: z
        .record(z.string(), z.email())
        .default({})
        .describe('For mode map: "addr@x" or "@domain" → sending mailbox'),
      sendAs: z
        .array(z.string())
        .default([])
        .describe('Addresses the sending mailboxes have SendAs on (sent unchanged)'),
      fromPolicy: z
        .enum(['rewrite', 'pass', 'reject'])
        .default('rewrite')
        .describe(
          'A sender the mailbox may not use: rewrite From to the mailbox (original in Reply-To), pass it on, or reject at MAIL FROM',
        ),
    })
    .prefault({})
    .describe('Sender identity for client submission and Graph'),
  submission: z
    .strictObject({
      host: z.string().default('smtp.office365.com').describe('Client submission host'),
      port: port.default(587).describe('Client submission port (STARTTLS is always required)'),
      servername: z.string().optional().describe('Name to verify the certificate against (default: host)'),
      auth: z
        .enum(['oauth', 'basic'])
        .default('oauth')
        .describe(
          'oauth: XOAUTH2 with an app-only token; basic: AUTH LOGIN with password (retired by Microsoft from end of 2026)',
        ),
      password: secret('Mailbox password for auth basic'),
      maxConnections: z
        .number()
        .int()
        .min(1)
        .max(3)
        .default(3)
        .describe('Connections for this mailbox (Exchange allows 3)'),
      maxRecipients: z
        .number()
        .int()
        .min(1)
        .max(1000)
        .default(500)
        .describe("The mailbox's recipients per message; bigger messages go to the route's next method"),
      maxSize: size('35MB', "The mailbox's MaxSendSize; bigger messages go to the route's next method"),
    })
    .prefault({})
    .describe('Settings of the client submission method'),
  graph: z
    .strictObject({
      baseUrl: z
        .url()
        .default('https://graph.microsoft.com')
        .describe('Graph endpoint (national clouds have their own)'),
      saveToSentItems: z
        .boolean()
        .default(true)
        .describe(
          'Keep a copy in the mailbox Sent Items; false sends the message as JSON (MIME sendMail always saves)',
        ),
    })
    .prefault({})
    .describe('Settings of the Graph sendMail method'),
  mx: z
    .strictObject({
      host: z
        .string()
        .optional()
        .describe(
          'The tenant MX host for direct send and connector relay, e.g. contoso-com.mail.protection.outlook.com',
        ),
      domain: z
        .string()
        .optional()
        .describe('Or: a domain whose MX record names the host (looked up, cached 5 minutes)'),
      port: port.default(25).describe('MX port'),
      servername: z.string().optional().describe('Name to verify the certificate against (default: host)'),
      tls: z
        .enum(['opportunistic', 'required'])
        .default('required')
        .describe(
          'STARTTLS to the MX: required (default) or opportunistic (direct send only; connectors always require it)',
        ),
      clientCert: z
        .strictObject({
          cert: z.string().describe('PEM certificate chain'),
          key: z.string().describe('PEM private key'),
        })
        .optional()
        .describe(
          'Client certificate for a certificate-based inbound connector (CN/SAN in an accepted domain)',
        ),
    })
    .prefault({})
    .describe('Settings of the direct-send and connector methods'),
});

export const SandboxTransportSchema = z.strictObject({
  kind: z
    .literal('sandbox')
    .describe('Delivers into the built-in Microsoft 365 sandbox tenant, started in the same process (demo)'),
  method: z
    .enum(['submission', 'mx'])
    .default('submission')
    .describe(
      'submission: as scanner@contoso.com with an OAuth2 app token; mx: anonymously into the tenant MX',
    ),
});

export const TransportSchema = z.discriminatedUnion('kind', [
  SmtpTransportSchema,
  M365TransportSchema,
  CaptureTransportSchema,
  SandboxTransportSchema,
]);

export const RouteSchema = z.strictObject({
  transport: TransportSchema.describe('How mail on this route leaves'),
  concurrency: z
    .number()
    .int()
    .min(1)
    .max(200)
    .default(10)
    .describe('Messages of this route delivered at the same time'),
});

export const ConfigSchema = z.strictObject({
  relay: z
    .strictObject({
      hostname: z
        .string()
        .min(1)
        .optional()
        .describe('Name in the banner, EHLO reply and Received headers (default: machine name)'),
      dataDir: z.string().default('./data').describe('Directory for the spool database and captured mail'),
      internalDomains: z
        .array(z.string())
        .optional()
        .describe(
          "Domains that count as internal for clients[].recipients internal (default: every tenant's acceptedDomains)",
        ),
      defaultRoute: z.string().default('default').describe('Route used for mail no other rule assigns'),
      routing: z
        .array(
          z.strictObject({
            clients: z.array(cidr).optional().describe('Client addresses or CIDR ranges this rule matches'),
            senderDomains: z
              .array(z.string())
              .optional()
              .describe('Envelope sender domains this rule matches'),
            route: z.string().describe('Route for matching mail'),
          }),
        )
        .default([])
        .describe(
          'Rules choosing the route by client address and/or sender domain; first match wins, else defaultRoute',
        ),
    })
    .prefault({}),
  listeners: z.array(ListenerSchema).min(1).prefault([{}]).describe('Where the relay accepts SMTP'),
  clients: z
    .array(ClientRuleSchema)
    .default([{ name: 'loopback', match: { addresses: ['127.0.0.0/8', '::1'] }, recipients: 'any' }])
    .describe(
      'Who may relay what; first matching rule wins; no match: 554 5.7.1 (or 530 5.7.0 where AUTH would help)',
    ),
  users: z
    .record(
      z.string().min(1).max(256),
      z.string().regex(/^\$scrypt\$/, 'expected a hash printed by "bridgehead passwd" ($scrypt$...)'),
    )
    .default({})
    .describe('Device credentials for SMTP AUTH: user → scrypt hash from "bridgehead passwd"')
    .meta({ secret: true }),
  auth: z
    .strictObject({
      maxFailures: z
        .number()
        .int()
        .min(1)
        .default(5)
        .describe('Failed AUTH attempts from one address within failureWindow before it is locked out'),
      failureWindow: duration('10m', 'Window in which failed AUTH attempts are counted'),
      lockout: duration('15m', 'How long a locked-out address gets 421 4.7.0'),
    })
    .prefault({}),
  limits: z
    .strictObject({
      maxMessageSize: size('35MB', 'Largest message accepted (SIZE= at MAIL and bytes at DATA)'),
      maxRecipients: z
        .number()
        .int()
        .min(1)
        .max(10000)
        .default(100)
        .describe('Recipients per message; more get 452 4.5.3'),
      maxConnections: z
        .number()
        .int()
        .min(1)
        .default(500)
        .describe('Open SMTP connections in total; more get 421 4.7.0'),
      maxConnectionsPerIp: z
        .number()
        .int()
        .min(1)
        .default(50)
        .describe('Open SMTP connections per client address; more get 421 4.7.0'),
      greetingDelay: duration(
        '0ms',
        'Wait before the 220 greeting; a client that talks first is refused. 0 for LAN devices, 1s or more on an exposed port',
      ),
      maxCommandLength: size(
        '4KB',
        'Longest SMTP command line; longer ones get 421 4.5.0 and the session is closed',
      ),
      idleTimeout: duration('5m', 'A session idle this long is closed with 421 4.4.2'),
      dataTimeout: duration('10m', 'Longest time a client may take to send one message body'),
      sessionTimeout: duration(
        '30m',
        'Longest an SMTP session may last (a body in transfer may finish); then 421 4.4.2. Bounds slow-loris clients',
      ),
    })
    .prefault({}),
  store: z
    .strictObject({
      kind: z
        .enum(['sqlite', 'postgres'])
        .default('sqlite')
        .describe('Queue store backend: sqlite (one node) or postgres (one or more nodes on one database)'),
      url: secret(
        'PostgreSQL connection URL for kind postgres, e.g. postgres://bridgehead:...@db:5432/bridgehead',
      ),
      maxConnections: z
        .number()
        .int()
        .min(2)
        .max(100)
        .default(10)
        .describe('PostgreSQL connections per process and thread'),
      path: z.string().optional().describe('SQLite database file (default: <dataDir>/queue.db)'),
      maxSize: z
        .string()
        .refine((v) => tryParse(parseSize, v), { message: 'expected a size such as "512KB", "25MB"' })
        .optional()
        .describe(
          'Largest the spool database may grow; at the limit new mail gets 452 4.3.1 (default: no limit)',
        ),
      keepDelivered: duration(
        '30d',
        'How long finished messages (and the trace: events, refusals) are kept before they are purged',
      ),
    })
    .prefault({}),
  delivery: z
    .strictObject({
      retrySchedule: z
        .string()
        .default('1m,5m,15m,30m,1h*4,2h')
        .superRefine((v, ctx) => {
          try {
            parseRetrySchedule(v);
          } catch (err) {
            ctx.addIssue({ code: 'custom', message: (err as Error).message });
          }
        })
        .describe('Delays between attempts; the last repeats; "1h*4" means four times 1 hour'),
      maxAge: duration('5d', 'After this long in the queue a recipient fails for good'),
      leaseTime: duration('5m', 'How long a worker holds a claimed message before others may take it'),
      pollInterval: duration('1s', 'How often workers look for messages that became due'),
    })
    .prefault({}),
  routes: z
    .record(
      z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'route names are lower-case letters, digits, - and _'),
      RouteSchema,
    )
    .default({ default: { transport: { kind: 'sandbox', method: 'submission' }, concurrency: 10 } })
    .describe('Named delivery routes'),
  dns: z
    .strictObject({
      servers: z
        .array(z.string())
        .default([])
        .describe('DNS servers for MX look-ups, "ip" or "ip:port" (default: the system resolver)'),
    })
    .prefault({}),
  microsoft365: z
    .strictObject({
      tenants: z
        .record(
          z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'tenant names are lower-case letters, digits, - and _'),
          z.strictObject({
            tenantId: z.string().min(1).describe('Directory (tenant) id or its initial domain'),
            acceptedDomains: z
              .array(z.string())
              .default([])
              .describe(
                'The tenant accepted domains; a direct-send-only route refuses other recipients at RCPT',
              ),
            clientId: z.uuid().describe('Application (client) id of the Entra app registration'),
            clientSecret: secret('Client secret of the app registration'),
            certificate: z
              .strictObject({
                cert: z.string().describe('PEM certificate registered on the app'),
                key: z.string().describe('PEM private key of that certificate'),
              })
              .optional()
              .describe('Certificate credential instead of a client secret (recommended)'),
            authorityHost: z
              .url()
              .default('https://login.microsoftonline.com')
              .describe('Entra host (sovereign clouds have their own)'),
            ca: z
              .string()
              .optional()
              .describe('PEM file of extra CA certificates for the token, Exchange and Graph hosts'),
          }),
        )
        .default({})
        .describe('App registrations, by a name routes refer to'),
    })
    .prefault({}),
  sandbox: z
    .strictObject({
      tenant: z
        .string()
        .optional()
        .describe('Tenant YAML for the in-process sandbox (default: the contoso.com demo tenant)'),
      dir: z
        .string()
        .optional()
        .describe('Where sandbox mailboxes are written as .eml files (default: <dataDir>/sandbox)'),
    })
    .prefault({})
    .describe('The in-process Microsoft 365 sandbox, started when a route uses transport kind sandbox'),
  log: z
    .strictObject({
      level: z
        .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
        .default('info')
        .describe('Least severe level written'),
      format: z
        .enum(['auto', 'json', 'pretty'])
        .default('auto')
        .describe('json, pretty, or auto (pretty on a terminal)'),
    })
    .prefault({}),
  alerts: z
    .strictObject({
      enabled: z
        .boolean()
        .default(true)
        .describe('Watch outbound volume per device and mailbox, new recipient domains and refusal spikes'),
      volumeFactor: z
        .number()
        .min(1)
        .default(5)
        .describe("Alert when an hour's messages exceed this many times the usual for that hour of day"),
      minMessagesPerHour: z
        .number()
        .int()
        .min(1)
        .default(30)
        .describe('...and at least this many (a quiet device sending 3 instead of 0 is no anomaly)'),
      learningHours: z
        .number()
        .int()
        .min(1)
        .default(24)
        .describe('Hours of history a device or mailbox needs before volume and new-domain alerts apply'),
      refusalsPer5m: z
        .number()
        .int()
        .min(1)
        .default(30)
        .describe('Refusals for one client address within five minutes that raise an alert'),
      cooldown: duration('1h', 'The same alert for the same device is raised at most once within this time'),
      webhook: z.url().optional().describe('POST each alert as JSON to this URL'),
      email: z.email().optional().describe('Also mail each alert to this address, through the relay itself'),
    })
    .prefault({})
    .describe('Anomaly alerts: to the log and metrics always, to a webhook and an email address when set'),
  admin: z
    .strictObject({
      enabled: z.boolean().default(true).describe('Serve the admin HTTP API, /metrics and health checks'),
      host: z.string().default('127.0.0.1').describe('Address the admin API binds (loopback by default)'),
      port: port.default(8025).describe('Admin API port; 0 picks a free one (tests)'),
      tokens: z
        .record(
          z.string().min(1),
          z
            .string()
            .regex(
              /^sha256:[0-9a-f]{64}$/,
              'expected a hash printed by "bridgehead admin-token" (sha256:...)',
            ),
        )
        .default({})
        .describe(
          'API tokens by name, as hashes from "bridgehead admin-token NAME"; every route but health needs one',
        ),
    })
    .prefault({})
    .describe('The admin HTTP API'),
  duplicates: z
    .strictObject({
      window: duration(
        '10m',
        'A message with the same Message-ID, sender, recipients and client within this window is accepted but not sent again; 0s turns it off',
      ),
    })
    .prefault({}),
  bounces: z
    .strictObject({
      enabled: z
        .boolean()
        .default(true)
        .describe(
          'Send a delivery status notification (RFC 3464) when a recipient fails for good or expires',
        ),
      route: z.string().optional().describe('Route the notifications take (default: relay.defaultRoute)'),
      redirectTo: z
        .email()
        .optional()
        .describe(
          'Send notifications here instead of to the sender (devices often send from unmonitored addresses)',
        ),
      copyTo: z.email().optional().describe('Also send a copy of every notification here (an admin mailbox)'),
      delayAfter: z
        .string()
        .refine((v) => tryParse(parseDuration, v), {
          message: 'expected a duration such as "30s", "5m", "1h", "5d"',
        })
        .optional()
        .describe(
          'Send one delay notice (Action: delayed) when a message is still undelivered after this long (default: off)',
        ),
      maxReturnSize: size(
        '256KB',
        'With RET=FULL, return the whole message up to this size; above it, its headers only',
      ),
    })
    .prefault({})
    .describe(
      'Bounces: never for the null sender or NOTIFY=NEVER; RET, ENVID and ORCPT from the submission are honoured',
    ),
  budgets: z
    .strictObject({
      messagesPerMinute: z
        .number()
        .int()
        .min(1)
        .default(30)
        .describe('Messages a Microsoft 365 mailbox sends per minute (Exchange: 30)'),
      recipientsPerDay: z
        .number()
        .int()
        .min(1)
        .default(10_000)
        .describe('Recipients a Microsoft 365 mailbox sends per rolling 24 hours (Exchange: 10,000)'),
      externalRecipientsPerDay: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe(
          "Recipients outside a tenant's accepted domains per rolling 24 hours, per tenant (its TERRL; depends on licences, so off by default)",
        ),
      mailboxes: z
        .record(
          z.string(),
          z.strictObject({
            messagesPerMinute: z.number().int().min(1).optional().describe('Override for this mailbox'),
            recipientsPerDay: z.number().int().min(1).optional().describe('Override for this mailbox'),
          }),
        )
        .default({})
        .describe('Per-mailbox overrides, by address'),
    })
    .prefault({})
    .describe('Sending budgets per Microsoft 365 mailbox; mail beyond them waits in the queue (throttled)'),
  shutdown: z
    .strictObject({
      grace: duration('30s', 'On SIGTERM, how long open sessions and deliveries may take to finish'),
    })
    .prefault({}),
});

export type Config = z.output<typeof ConfigSchema>;
export type ListenerConfig = z.output<typeof ListenerSchema>;
export type RouteConfig = z.output<typeof RouteSchema>;
export type TransportConfig = z.output<typeof TransportSchema>;
export type SmtpTransportConfig = z.output<typeof SmtpTransportSchema>;
