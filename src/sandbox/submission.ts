import { randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

import addressparser from 'nodemailer/lib/addressparser';
import { SMTPServer, type SMTPServerAuthentication } from 'smtp-server';

import { headerValue } from '../smtp/received.ts';
import type { SmtpError } from '../smtp/replies.ts';
import { patchSmtpServerReplies, type ReplyRewrite } from '../smtp/wire.ts';
import { normaliseIp } from '../util/address.ts';
import { parseSize } from '../util/units.ts';
import { DAY_MS, MINUTE_MS, type SandboxContext, seededRandom } from './context.ts';
import { dropConnection, listenHost, type SmtpHost } from './mx.ts';
import { m365 } from './replies.ts';
import { type App, findMailbox, isAccepted, type Mailbox } from './tenant.ts';
import { AUDIENCES, type TokenService } from './tokens.ts';

interface Login {
  mailbox: Mailbox;
  app: App | null;
}

/** Continuous-error throttling: how long a mailbox stays blocked (UNCONFIRMED: Microsoft names no period). */
const THROTTLE_MS = 60 * MINUTE_MS;

/**
 * smtp.office365.com (facts §1, §2.1–2.3, §3.1): STARTTLS, then AUTH LOGIN or XOAUTH2 only;
 * the tenant's switches decide who may authenticate, the mailbox's permissions whom it may send
 * as, and the per-mailbox limits how much.
 */
export async function startSubmissionHost(
  ctx: SandboxContext,
  tokens: TokenService,
  opts: { host: string; port: number },
): Promise<SmtpHost> {
  patchSmtpServerReplies();
  const { tenant } = ctx;
  const frontEnd = 'SN2PR00CA0018.namprd00.prod.outlook.com';
  const logins = new Map<string, Login>();
  const openSessions = new Map<string, Set<string>>(); // mailbox -> session ids
  const errorsInARow = new Map<string, number>();
  const blocked = new Map<string, { until: number; reply: SmtpError }>();
  const random = seededRandom(ctx.faults.seed);

  const rewrites: ReplyRewrite[] = [
    // AUTH before STARTTLS and AUTH PLAIN both get 504 5.7.4 from Exchange (facts §1.2).
    { match: /^Error: Must issue a STARTTLS command first$/, reply: () => m365.unrecognizedAuth(frontEnd) },
    { match: /^Error: Unrecognized authentication type$/, reply: () => m365.unrecognizedAuth(frontEnd) },
    { match: /^Error: message exceeds fixed maximum message size/, reply: () => m365.messageTooLarge() },
  ];

  const mayUse = (login: Login, address: string): boolean => {
    const a = address.toLowerCase();
    if (login.mailbox.address.toLowerCase() === a) return true;
    if (login.mailbox.sendAs.some((s) => s.toLowerCase() === a)) return true;
    return login.app !== null && login.app.sendAs.some((s) => s.toLowerCase() === a);
  };

  const recordError = (mailbox: string, kind: '252' | '254'): void => {
    const n = (errorsInARow.get(mailbox) ?? 0) + 1;
    errorsInARow.set(mailbox, n);
    if (n >= tenant.limits.continuousErrorThreshold)
      blocked.set(mailbox, { until: ctx.now() + THROTTLE_MS, reply: m365.continuousErrors(kind) });
  };

  const authDisabled = (mailbox: Mailbox): SmtpError | null => {
    if (mailbox.smtpAuth === 'disabled') return m365.smtpAuthDisabledMailbox();
    if (mailbox.smtpAuth === 'inherit' && tenant.organization.smtpClientAuthenticationDisabled)
      return m365.smtpAuthDisabledTenant();
    return null;
  };

  const authenticate = (auth: SMTPServerAuthentication): Login | SmtpError => {
    const mailbox = findMailbox(tenant, auth.username ?? '');
    if (auth.method === 'XOAUTH2') {
      if (!mailbox || !mailbox.licensed) return m365.authFailed(frontEnd);
      const disabled = authDisabled(mailbox);
      if (disabled) return disabled;
      const v = tokens.verifyAccessToken(auth.accessToken ?? '', AUDIENCES.exchange, tenant.tenantId);
      if (!v.ok) return m365.authFailed(frontEnd);
      const app = tenant.apps.find((a) => a.clientId === v.appid);
      // Exchange answers 5.7.3 for every app-side gap (facts §1.4): no role, no service principal, no FullAccess.
      if (!app || !v.roles.includes('SMTP.SendAsApp') || !app.exchangeServicePrincipal)
        return m365.authFailed(frontEnd);
      if (!app.fullAccess.some((m) => m.toLowerCase() === mailbox.address.toLowerCase()))
        return m365.authFailed(frontEnd);
      return { mailbox, app };
    }
    // AUTH LOGIN (Basic).
    if (!mailbox) return m365.badCredentials(frontEnd);
    const disabled = authDisabled(mailbox);
    if (disabled) return disabled;
    if (tenant.organization.basicAuthRetired) return m365.basicNotSupported();
    if (!tenant.organization.basicAuthAllowed) return m365.basicAuthDisabled(frontEnd);
    if (!mailbox.password || auth.password !== mailbox.password) return m365.badCredentials(frontEnd);
    return { mailbox, app: null };
  };

  const delay = <T>(value: T): Promise<T> =>
    ctx.faults.smtpDelayMs > 0
      ? new Promise((r) => setTimeout(() => r(value), ctx.faults.smtpDelayMs))
      : Promise.resolve(value);

  const server = new SMTPServer({
    name: 'SN2PR00CA0018.outlook.office365.com',
    banner: `Microsoft ESMTP MAIL Service ready at ${new Date().toUTCString().replace('GMT', '+0000')} [${randomBytes(8).toString('hex').toUpperCase()}]`,
    key: ctx.pki.server.keyPem,
    cert: ctx.pki.server.certPem,
    // Old clients must be able to finish the handshake to be told 421 4.7.66 (facts §1.1).
    minVersion: 'TLSv1',
    ciphers: 'DEFAULT:@SECLEVEL=0',
    size: tenant.limits.submissionSize,
    authMethods: ['LOGIN', 'XOAUTH2'],
    authRequiredMessage: m365.notAuthenticated(frontEnd).message,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: false,
    disableReverseLookup: true,
    logger: false,
    replyRewrites: rewrites,
    heloResponse: '%s Hello %s',
    // Exchange offers AUTH only once the session is encrypted (facts §1.2).
    ehloFilter: (lines: string[], secure: boolean) =>
      secure ? lines : lines.filter((l) => !l.startsWith('AUTH ')),
    onSecure(socket, _session, cb) {
      const protocol = (socket as TLSSocket).getProtocol?.() ?? '';
      if ((protocol === 'TLSv1' || protocol === 'TLSv1.1') && !tenant.organization.allowLegacyTlsClients)
        return cb(m365.legacyTls());
      cb();
    },
    onAuth(auth, session, cb) {
      const result = authenticate(auth);
      if (!('mailbox' in result)) return cb(result);
      const key = result.mailbox.address.toLowerCase();
      const open = openSessions.get(key) ?? new Set<string>();
      if (open.size >= tenant.limits.concurrentConnections) return cb(m365.concurrentConnections());
      open.add(session.id);
      openSessions.set(key, open);
      logins.set(session.id, result);
      cb(null, { user: result.mailbox.address });
    },
    onMailFrom(address, session, cb) {
      const login = logins.get(session.id)!;
      const key = login.mailbox.address.toLowerCase();
      const block = blocked.get(key);
      if (block && block.until > ctx.now()) return void delay(block).then((b) => cb(b.reply));
      if (ctx.faults.smtpTempErrorRatio > 0 && random() < ctx.faults.smtpTempErrorRatio)
        return void delay(null).then(() => cb(m365.proxyError(2)));
      if (!mayUse(login, address.address)) {
        recordError(key, '252');
        return void delay(null).then(() => cb(m365.sendAsDeniedAtMail()));
      }
      void delay(null).then(() => cb());
    },
    onRcptTo(_address, session, cb) {
      const login = logins.get(session.id)!;
      if (session.envelope.rcptTo.length >= login.mailbox.recipientLimit) {
        recordError(login.mailbox.address.toLowerCase(), '254');
        return cb(m365.tooManyRecipients());
      }
      void delay(null).then(() => cb());
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (ctx.faults.dropAfterData) {
          // The connection goes away after the data, before any reply: the client cannot know.
          return dropConnection(server, session.id);
        }
        if (stream.sizeExceeded) return cb(m365.messageTooLarge());
        const login = logins.get(session.id)!;
        const key = login.mailbox.address.toLowerCase();
        const raw = Buffer.concat(chunks);
        if (raw.length > parseSize(login.mailbox.maxSendSize)) return cb(m365.senderTooLarge());
        // The From header is checked at the end of DATA too (facts §2.2: 5.2.252 after "Sender OK").
        const fromHeader = addressparser(headerValue(raw, 'from') ?? '', { flatten: true })[0]?.address ?? '';
        if (fromHeader && !mayUse(login, fromHeader)) {
          recordError(key, '252');
          return cb(m365.sendAsDeniedAtData(login.mailbox.address, fromHeader));
        }
        const rcpts = session.envelope.rcptTo.map((r) => r.address);
        const now = ctx.now();
        if (ctx.counters.count(`rcpt:${key}`, DAY_MS, now) + rcpts.length > tenant.limits.recipientsPerDay)
          return cb(m365.submissionQuota());
        ctx.counters.add(`rcpt:${key}`, now, rcpts.length);
        errorsInARow.delete(key);
        // 30 messages a minute: the excess is accepted and carried over to the following minutes (facts §2.3).
        const sentLastMinute = ctx.counters.count(`msg:${key}`, MINUTE_MS, now);
        ctx.counters.add(`msg:${key}`, now);
        const carriedOver = sentLastMinute >= tenant.limits.messagesPerMinute;
        const traceId = ctx.state.accept({
          via: 'submission',
          fromIp: normaliseIp(session.remoteAddress),
          envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          recipients: rcpts.map((a) => ({ address: a, local: isAccepted(tenant, a) })),
          raw,
          sender: login.mailbox.address,
          now,
          pending: carriedOver,
        });
        if (carriedOver)
          setTimeout(
            () => ctx.state.release(traceId, ctx.now()),
            MINUTE_MS / tenant.limits.messagesPerMinute,
          ).unref();
        const id = `${randomBytes(8).toString('hex').toUpperCase()}@${frontEnd.split('.')[0]}.namprd00.prod.outlook.com`;
        cb(null, `2.0.0 OK <${id}> [Hostname=${frontEnd}]`);
      });
    },
    onClose(session) {
      const login = logins.get(session.id);
      if (login) openSessions.get(login.mailbox.address.toLowerCase())?.delete(session.id);
      logins.delete(session.id);
    },
  } as ConstructorParameters<typeof SMTPServer>[0]);
  server.on('error', (err) => ctx.log.debug({ err }, 'sandbox:submission-error'));

  return listenHost(server, opts);
}
