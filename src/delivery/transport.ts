import type { DsnEnvelope } from '../queue/store.ts';

/** What a transport needs to send one message: the envelope from the spool and the stored bytes. */
export interface OutboundMessage {
  id: string;
  /** '' is the null sender. */
  mailFrom: string;
  recipients: { id: number; address: string; notify: string[] | null; orcpt: string | null }[];
  dsn: DsnEnvelope;
  smtputf8: boolean;
  body: Buffer;
  /** The Microsoft 365 mailbox the client rule assigned (clients[].mailbox); overrides the route's mapping. */
  mailbox?: string;
}

/** The upstream's answer for one recipient: accepted (2xx after DATA) or refused with its reply. */
export interface RecipientReply {
  recipientId: number;
  accepted: boolean;
  /** Reply line as the upstream sent it, e.g. "250 2.0.0 OK queued" or "550 5.1.1 unknown user". */
  reply: string;
  /** Numeric reply code when the upstream gave one. */
  code: number | null;
}

export interface SendResult {
  /** Host (and port) the message went to, for the attempt history. */
  upstream: string;
  recipients: RecipientReply[];
}

/**
 * A way for mail to leave. `send` resolves with per-recipient replies when the upstream
 * took part in the transaction, and rejects when the whole message failed (connection, TLS,
 * AUTH, MAIL FROM or DATA refused): the worker hands such errors to classify().
 */
export interface Transport {
  readonly kind: string;
  /** Why this transport cannot carry the message at all (too big, too many recipients), or null. */
  fits?(message: OutboundMessage): string | null;
  send(message: OutboundMessage): Promise<SendResult>;
  /**
   * The mailboxes that may send this message, in the route's order of preference; the
   * scheduler picks one with budget left and passes it as `mailbox`. Absent or empty for
   * routes without per-mailbox limits (smarthosts, direct send, connectors).
   */
  senders?(message: Pick<OutboundMessage, 'mailFrom' | 'mailbox'>): string[];
  close(): Promise<void>;
}

/** What nodemailer reports after DATA: the final reply and the recipients refused at RCPT. */
export interface SmtpSentInfo {
  rejectedErrors?: { recipient?: string; responseCode?: number; response?: string }[];
  response: string;
}

/** Per-recipient replies from nodemailer's result: refused ones with their RCPT reply, the rest with the DATA reply. */
export function recipientReplies(message: OutboundMessage, info: SmtpSentInfo): RecipientReply[] {
  const rejected = new Map((info.rejectedErrors ?? []).map((e) => [e.recipient?.toLowerCase() ?? '', e]));
  return message.recipients.map((r): RecipientReply => {
    const err = rejected.get(r.address.toLowerCase());
    if (err)
      return {
        recipientId: r.id,
        accepted: false,
        reply: (err.response ?? 'rejected').trim(),
        code: err.responseCode ?? null,
      };
    return {
      recipientId: r.id,
      accepted: true,
      reply: info.response.trim(),
      code: Number(info.response.slice(0, 3)) || 250,
    };
  });
}
