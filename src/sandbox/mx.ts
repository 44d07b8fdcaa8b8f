import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

import { SMTPServer, type SMTPServerSession } from 'smtp-server';

import { SmtpError } from '../smtp/replies.ts';
import { patchSmtpServerReplies } from '../smtp/wire.ts';
import { cidrMatcher, domainOf, normaliseIp } from '../util/address.ts';
import { DAY_MS, type SandboxContext, seededRandom } from './context.ts';
import { m365 } from './replies.ts';
import { type Connector, findMailbox, isAccepted, mxHostName } from './tenant.ts';

interface MxSession {
  clientCert: { authorized: boolean; names: string[] } | null;
  connector: Connector | null;
}

export interface SmtpHost {
  port: number;
  close(): Promise<void>;
  /** Closes every open client connection (the server side going away between messages). */
  disconnectAll?(): void;
}

/** Destroys every connection of an smtp-server instance. */
export function disconnectAll(server: SMTPServer): void {
  for (const conn of (server as unknown as { connections: Set<{ _socket?: { destroy(): void } }> })
    .connections)
    conn._socket?.destroy();
}

/**
 * The tenant's MX host (<domain>.mail.protection.outlook.com, facts §2.4, §3.6, §4): no AUTH,
 * opportunistic STARTTLS with an optional client certificate, accepted-domain recipients taken,
 * external recipients only through a matching OnPremises connector.
 */
export async function startMxHost(
  ctx: SandboxContext,
  opts: { host: string; port: number },
): Promise<SmtpHost> {
  patchSmtpServerReplies();
  const hostName = mxHostName(ctx.tenant.name);
  const frontEnd = `${hostName.split('.')[0]!.toUpperCase().slice(0, 8)}FT025.eop-nam02.prod.protection.outlook.com`;
  const sessions = new Map<string, MxSession>();
  const random = seededRandom(ctx.faults.seed + 1);
  const connectors = ctx.tenant.connectors.map((c) => ({
    connector: c,
    ipMatch: cidrMatcher(c.senderIpRanges),
  }));

  const matchConnector = (
    ip: string,
    cert: MxSession['clientCert'],
    type: Connector['type'],
  ): Connector | null => {
    for (const { connector, ipMatch } of connectors) {
      if (connector.type !== type) continue;
      if (connector.senderIpRanges.length && ipMatch(ip)) return connector;
      if (
        connector.tlsCertificateDomain &&
        cert?.authorized &&
        certCovers(cert.names, connector.tlsCertificateDomain, (d) => isAccepted(ctx.tenant, `x@${d}`))
      )
        return connector;
    }
    return null;
  };

  const server = new SMTPServer({
    name: hostName,
    banner: `Microsoft ESMTP MAIL Service ready at ${new Date().toUTCString().replace('GMT', '+0000')} [${randomBytes(8).toString('hex').toUpperCase()}]`,
    key: ctx.pki.server.keyPem,
    cert: ctx.pki.server.certPem,
    // Ask for a client certificate (certificate connectors) but let clients without one in:
    // the MX takes anonymous mail for its own domains. Whether a presented chain verified is
    // read from socket.authorized in onSecure; nothing here trusts an unverified certificate.
    requestCert: true,
    rejectUnauthorized: false,
    ca: ctx.pki.caPem,
    minVersion: 'TLSv1.2',
    size: ctx.tenant.limits.submissionSize,
    disabledCommands: ['AUTH'],
    heloResponse: '%s Hello %s',
    authOptional: true,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: false,
    disableReverseLookup: true,
    logger: false,
    onSecure(socket, session, cb) {
      const tls = socket as TLSSocket;
      const peer = tls.getPeerCertificate?.();
      if (peer && peer.subject) {
        const names = [
          peer.subject.CN,
          ...(peer.subjectaltname ?? '').split(/,\s*/).map((s) => s.replace(/^DNS:/, '')),
        ]
          .filter((n): n is string => typeof n === 'string' && n.length > 0)
          .map((n) => n.toLowerCase());
        sessionOf(session).clientCert = { authorized: tls.authorized, names };
      }
      cb();
    },
    onMailFrom(address, session, cb) {
      if (ctx.faults.smtpTempErrorRatio > 0 && random() < ctx.faults.smtpTempErrorRatio)
        return cb(m365.proxyError(1));
      const s = sessionOf(session);
      const ip = normaliseIp(session.remoteAddress);
      s.connector = matchConnector(ip, s.clientCert, 'OnPremises');
      const senderDomain = domainOf(address.address);
      // Partner connectors that lock a sender domain to an IP or certificate (facts §4.1, 5.7.51).
      for (const { connector } of connectors) {
        if (
          connector.type !== 'Partner' ||
          !(connector.restrictDomainsToIPAddresses || connector.restrictDomainsToCertificate)
        )
          continue;
        if (!connector.senderDomains.some((d) => d === '*' || d.toLowerCase() === senderDomain)) continue;
        if (matchConnector(ip, s.clientCert, 'Partner') !== connector)
          return cb(m365.partnerRestricted(frontEnd));
      }
      // Reject Direct Send: anonymous mail whose MAIL FROM is one of our domains and that no
      // connector identifies (facts §3.6). Stage UNCONFIRMED in the facts; chosen: MAIL FROM.
      if (ctx.tenant.organization.rejectDirectSend && !s.connector && isAccepted(ctx.tenant, address.address))
        return cb(m365.directSendRejected());
      cb();
    },
    onRcptTo(address, session, cb) {
      const s = sessionOf(session);
      if (isAccepted(ctx.tenant, address.address)) {
        // Not in the facts sheet; the long-standing Exchange Online text for an unknown recipient.
        if (!findMailbox(ctx.tenant, address.address))
          return cb(
            new SmtpError({
              code: 550,
              enhanced: '5.1.10',
              text: 'RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
            }),
          );
        return cb();
      }
      if (!s.connector) return cb(m365.relayDenied(frontEnd));
      if (
        ctx.counters.count(`terrl:${ctx.tenant.tenantId}`, DAY_MS, ctx.now()) >=
        ctx.tenant.limits.externalRecipientsPerDay
      )
        return cb(m365.tenantExternalLimit());
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (ctx.faults.dropAfterData) return dropConnection(server, session.id);
        if (stream.sizeExceeded) return cb(m365.messageTooLarge());
        const raw = Buffer.concat(chunks);
        const recipients = session.envelope.rcptTo.map((r) => ({
          address: r.address,
          local: isAccepted(ctx.tenant, r.address),
        }));
        const external = recipients.filter((r) => !r.local).length;
        if (external) ctx.counters.add(`terrl:${ctx.tenant.tenantId}`, ctx.now(), external);
        const traceId = ctx.state.accept({
          via: 'mx',
          fromIp: normaliseIp(session.remoteAddress),
          envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          recipients,
          raw,
          now: ctx.now(),
        });
        // Exchange's "Queued mail for delivery" format (facts §4.2; not captured from EXO itself).
        cb(
          null,
          `2.6.0 <${traceId}@${hostName}> [InternalId=${randomBytes(5).readUIntBE(0, 5)}, Hostname=${frontEnd}] Queued mail for delivery`,
        );
      });
    },
    onClose(session) {
      sessions.delete(session.id);
    },
  });
  server.on('error', (err) => ctx.log.debug({ err }, 'sandbox:mx-error'));

  function sessionOf(session: SMTPServerSession): MxSession {
    let s = sessions.get(session.id);
    if (!s) sessions.set(session.id, (s = { clientCert: null, connector: null }));
    return s;
  }

  return listenHost(server, opts);
}

/** Binds a sandbox SMTP host and wraps it as an SmtpHost (shared by the MX and submission hosts). */
export async function listenHost(
  server: SMTPServer,
  opts: { host: string; port: number },
): Promise<SmtpHost> {
  const port = await new Promise<number>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve((server.server.address() as AddressInfo).port));
  });
  return {
    port,
    disconnectAll: () => disconnectAll(server),
    close: () =>
      new Promise<void>((resolve) => {
        // Tests stop the sandbox while clients may still hold pooled connections: do not wait 30 s.
        (server as unknown as { options: { closeTimeout: number } }).options.closeTimeout = 100;
        server.close(() => resolve());
      }),
  };
}

/** Closes a session's connection without a reply (the "dropped mid-DATA" fault). */
export function dropConnection(server: SMTPServer, sessionId: string): void {
  for (const conn of (
    server as unknown as { connections: Set<{ id: string; _socket?: { destroy(): void } }> }
  ).connections) {
    if (conn.id === sessionId) conn._socket?.destroy();
  }
}

/** Does a certificate name list cover `domain` (wildcards allowed in the certificate, facts §4.1)? */
export function certCovers(names: string[], domain: string, accepted: (d: string) => boolean): boolean {
  const want = domain.toLowerCase().replace(/^\*\./, '');
  if (!accepted(want)) return false;
  return names.some(
    (n) => n === want || n === `*.${want}` || (n.startsWith('*.') && want.endsWith(n.slice(1))),
  );
}
