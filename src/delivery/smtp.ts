import { readFileSync } from 'node:fs';

import nodemailer, { type SendMailOptions, type SMTPPoolOptions, type Transporter } from 'nodemailer';

import type { SmtpTransportConfig } from '../config/schema.ts';
import { RelayError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { parseDuration } from '../util/units.ts';
import {
  type OutboundMessage,
  recipientReplies,
  type SendResult,
  type SmtpSentInfo,
  type Transport,
} from './transport.ts';

/**
 * Any SMTP smarthost through nodemailer's pooled transport. The envelope comes from the
 * spool (never from the headers) and the bytes go out exactly as they were received.
 * Certificate verification is always on; `ca` adds trust anchors for a private CA.
 */
export class SmtpTransport implements Transport {
  readonly kind: string;
  readonly #transporter: Transporter;
  readonly #upstream: string;

  constructor(
    config: SmtpTransportConfig,
    options: {
      heloName: string;
      log: Logger;
      caPem?: string;
      clientCert?: { certPem: string; keyPem: string };
      kind?: string;
    },
  ) {
    this.kind = options.kind ?? 'smtp';
    this.#upstream = `${config.host}:${config.port}`;
    let ca: Buffer | string | undefined = options.caPem;
    if (config.ca) {
      try {
        ca = readFileSync(config.ca);
      } catch (cause) {
        throw new RelayError(
          'ERELAY_TLS_FILES',
          `cannot read CA file ${config.ca}: ${(cause as Error).message}`,
          { cause },
        );
      }
    }
    if (config.auth && !config.auth.pass)
      throw new RelayError(
        'ERELAY_TRANSPORT_CONFIG',
        `smarthost ${this.#upstream}: auth.user is set but auth.pass is not`,
      );
    this.#transporter = nodemailer.createTransport({
      pool: true,
      host: config.host,
      port: config.port,
      name: config.heloName ?? options.heloName,
      secure: config.security === 'implicit',
      requireTLS: config.security === 'starttls',
      ignoreTLS: config.security === 'none',
      tls: {
        ca,
        servername: config.servername,
        minVersion: 'TLSv1.2',
        rejectUnauthorized: true,
        // A certificate-based inbound connector identifies the relay by this certificate (full chain).
        cert: options.clientCert?.certPem,
        key: options.clientCert?.keyPem,
      },
      auth: config.auth ? { user: config.auth.user, pass: config.auth.pass } : undefined,
      authMethod: config.auth?.method,
      maxConnections: config.maxConnections,
      maxMessages: config.maxMessagesPerConnection,
      connectionTimeout: parseDuration(config.connectionTimeout),
      greetingTimeout: parseDuration(config.connectionTimeout),
      socketTimeout: parseDuration(config.socketTimeout),
      logger: false,
      debug: false,
    } as SMTPPoolOptions & { pool: true });
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const to = message.recipients.map((r) => r.address);
    const info = (await this.#transporter.sendMail({
      envelope: { from: message.mailFrom, to },
      raw: message.body,
      dsn: dsnFor(message),
    } as SendMailOptions)) as unknown as SmtpSentInfo;
    const recipients = recipientReplies(message, info);
    return { upstream: this.#upstream, recipients };
  }

  async close(): Promise<void> {
    this.#transporter.close();
  }
}

/**
 * nodemailer applies one NOTIFY to every recipient, so DSN parameters are passed on only when
 * the recipients agree; otherwise the upstream's defaults apply and Bridgehead keeps the
 * per-recipient values for its own notices.
 */
function dsnFor(message: OutboundMessage): Record<string, unknown> | undefined {
  const notify = message.recipients[0]?.notify ?? null;
  const uniform = message.recipients.every((r) => (r.notify ?? []).join(',') === (notify ?? []).join(','));
  const dsn: Record<string, unknown> = {};
  if (message.dsn.ret) dsn.ret = message.dsn.ret;
  if (message.dsn.envid) dsn.envid = message.dsn.envid;
  if (uniform && notify) dsn.notify = notify;
  if (message.recipients.length === 1 && message.recipients[0]!.orcpt)
    dsn.orcpt = message.recipients[0]!.orcpt;
  return Object.keys(dsn).length ? dsn : undefined;
}
