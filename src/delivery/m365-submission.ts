import nodemailer, { type SendMailOptions, type SMTPPoolOptions, type Transporter } from 'nodemailer';

import { SCOPES, TokenError, type TokenProvider } from '../oauth/token-provider.ts';
import type { Logger } from '../observability/logger.ts';
import type { ConcurrencySlots } from '../scheduler/slots.ts';
import { candidateMailboxes, decideSender, type SenderSettings } from './sender-identity.ts';
import {
  type OutboundMessage,
  recipientReplies,
  type SendResult,
  type SmtpSentInfo,
  type Transport,
} from './transport.ts';

export interface SubmissionSettings {
  host: string;
  port: number;
  servername?: string;
  /** The licensed mailbox that authenticates (XOAUTH2 `user=`, or the LOGIN user). */
  mailbox: string;
  auth: 'oauth' | 'basic';
  password?: string;
  maxConnections: number;
  heloName: string;
  caPem?: string;
  sender: SenderSettings;
  maxRecipients: number;
  maxSize: number;
}

/**
 * Client submission to smtp.office365.com (facts §1): STARTTLS required, TLS 1.2+, AUTH
 * XOAUTH2 with an app-only token (or LOGIN while Microsoft still allows it), at most three
 * connections for the mailbox. A 535 with a cached token is retried once with a fresh token,
 * because the usual cause is a token revoked or rotated between two sends.
 */
export class M365SubmissionTransport implements Transport {
  readonly kind = 'm365-submission';
  readonly #transporters = new Map<string, Transporter>();
  readonly #settings: SubmissionSettings;
  readonly #tokens: TokenProvider | null;
  readonly #upstream: string;
  readonly #connections: ConcurrencySlots | null;

  /**
   * `connections`: slots counted with other nodes. Exchange counts open connections, idle ones
   * included, so with several nodes each message then gets a connection of its own, opened and
   * closed inside its slot; no node keeps one open that another node's three would exceed. A
   * mailbox sends at most 30 messages a minute, so the handshakes this costs are few.
   */
  constructor(
    settings: SubmissionSettings,
    deps: { tokens: TokenProvider | null; log: Logger; connections?: ConcurrencySlots },
  ) {
    this.#tokens = deps.tokens;
    this.#connections = deps.connections ?? null;
    this.#upstream = `${settings.host}:${settings.port}`;
    if (settings.auth === 'basic')
      deps.log.warn(
        {
          mailbox: settings.mailbox,
          advice:
            'Basic authentication for SMTP AUTH is disabled by default from the end of December 2026; switch this route to auth: oauth',
        },
        'm365:basic-auth',
      );
    this.#settings = settings;
  }

  /** One pool per sending mailbox: Exchange counts the three connections per mailbox. */
  #transporterFor(mailbox: string): Transporter {
    let existing = this.#transporters.get(mailbox);
    if (existing) return existing;
    const settings = this.#settings;
    const tokens = this.#tokens;
    const pooled = this.#connections === null;
    existing = nodemailer.createTransport({
      pool: pooled,
      host: settings.host,
      port: settings.port,
      secure: false,
      requireTLS: true,
      name: settings.heloName,
      tls: {
        ca: settings.caPem,
        servername: settings.servername ?? settings.host,
        minVersion: 'TLSv1.2',
        rejectUnauthorized: true,
      },
      ...(pooled ? { maxConnections: settings.maxConnections, maxMessages: 100 } : {}),
      logger: false,
      auth:
        settings.auth === 'oauth'
          ? {
              type: 'OAuth2',
              user: mailbox,
              // nodemailer asks for a token whenever a connection authenticates; the provider caches.
              provisionCallback: (
                _user: string,
                renew: boolean,
                cb: (err: Error | null, token?: string, expires?: number) => void,
              ) => {
                tokens!.get(SCOPES.exchange, renew).then(
                  (t) => cb(null, t.token, Date.now()),
                  (err: unknown) => cb(err as Error),
                );
              },
            }
          : { user: mailbox, pass: settings.password },
    } as SMTPPoolOptions & { pool: boolean });
    this.#transporters.set(mailbox, existing);
    return existing;
  }

  /** Exchange takes at most 500 recipients per message by default (facts §3.1) and 35 MB (§3.4). */
  fits(message: OutboundMessage): string | null {
    if (message.recipients.length > this.#settings.maxRecipients)
      return `${message.recipients.length} recipients, the mailbox accepts ${this.#settings.maxRecipients} per message`;
    if (message.body.length > this.#settings.maxSize)
      return `${message.body.length} bytes, over the mailbox's ${this.#settings.maxSize}`;
    return null;
  }

  senders(message: Pick<OutboundMessage, 'mailFrom' | 'mailbox'>): string[] {
    return candidateMailboxes(this.#settings.sender, message.mailFrom, message.mailbox);
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    try {
      return await this.#send(message);
    } catch (err) {
      const e = err as { code?: string; responseCode?: number };
      if (this.#tokens && e.code === 'EAUTH' && e.responseCode === 535) {
        this.#tokens.invalidate(SCOPES.exchange);
        return this.#send(message);
      }
      throw tokenAware(err);
    }
  }

  async #send(message: OutboundMessage): Promise<SendResult> {
    const sender = decideSender(this.#settings.sender, message.mailFrom, message.body, message.mailbox);
    const transporter = this.#transporterFor(sender.mailbox);
    const sendMail = async () =>
      (await transporter.sendMail({
        envelope: { from: sender.mailFrom, to: message.recipients.map((r) => r.address) },
        raw: sender.body,
      } as SendMailOptions)) as unknown as SmtpSentInfo;
    try {
      const info = this.#connections
        ? await this.#connections.run(`smtp:${sender.mailbox.toLowerCase()}`, sendMail)
        : await sendMail();
      const recipients = recipientReplies(message, info);
      return { upstream: this.#upstream, recipients };
    } catch (err) {
      throw tokenAware(err);
    }
  }

  async close(): Promise<void> {
    for (const t of this.#transporters.values()) t.close();
  }
}

/** Token failures reach the classifier with a code of their own (ETOKENCONFIG / ETOKENTEMP). */
function tokenAware(err: unknown): unknown {
  if (err instanceof TokenError)
    return Object.assign(err, { code: err.kind === 'configuration' ? 'ETOKENCONFIG' : 'ETOKENTEMP' });
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof TokenError) return tokenAware(cause);
  return err;
}
