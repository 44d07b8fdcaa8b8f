import { formatSize } from '../util/units.ts';

/**
 * The SMTP reply catalogue: every reply Bridgehead itself sends to a device is made here by
 * a named factory, with its code, enhanced status code (RFC 3463) and a text an admin can act
 * on. docs/errors.md lists every entry; a test keeps the two in step and pins what goes out
 * on the wire.
 */
export interface SmtpReply {
  code: number;
  enhanced: string;
  text: string;
}

/** The error shape smtp-server reads: it sends `responseCode` and `message`. */
export class SmtpError extends Error {
  readonly responseCode: number;
  readonly enhanced: string;
  readonly text: string;

  constructor(reply: SmtpReply) {
    const text = clean(reply.text);
    // The enhanced code leads the message: the wire patch (wire.ts) sends it as is instead
    // of letting smtp-server derive a generic one from the numeric code.
    super(`${reply.enhanced} ${text}`);
    this.name = 'SmtpError';
    this.responseCode = reply.code;
    this.enhanced = reply.enhanced;
    this.text = text;
  }

  /** The reply line as it goes out, without CRLF. */
  get line(): string {
    return `${this.responseCode} ${this.message}`;
  }
}

/** Reply text must never carry CR/LF (response splitting) or other control characters. */
function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
}

const reply = (code: number, enhanced: string, text: string) => new SmtpError({ code, enhanced, text });

/** Every factory, by name. docs/errors.md has one row per key. */
export const replies = {
  queued: (queueId: string) => reply(250, '2.0.0', `Ok: queued as ${queueId}`),

  relayDenied: (ip: string) =>
    reply(554, '5.7.1', `Relay access denied: ${ip} is not allowed to send mail through this relay`),
  tooManyConnections: () => reply(421, '4.7.0', 'Too many connections to this relay, try again later'),
  tooManyConnectionsFromIp: (ip: string, limit: number) =>
    reply(421, '4.7.0', `Too many connections from ${ip} (limit ${limit}), try again later`),
  authRequired: () =>
    reply(
      530,
      '5.7.0',
      'Authentication required: log in with AUTH (over TLS) before sending through this relay',
    ),
  tlsRequired: () =>
    reply(530, '5.7.0', 'Must issue a STARTTLS command first: this listener accepts mail over TLS only'),
  encryptionRequired: () =>
    reply(538, '5.7.11', 'Encryption required for AUTH: issue STARTTLS first, then log in'),
  authInvalid: () => reply(535, '5.7.8', 'Authentication credentials invalid'),
  authUnavailable: () => reply(454, '4.7.0', 'Temporary authentication failure, try again later'),
  authLockedOut: (ip: string, untilMs: number) =>
    reply(
      421,
      '4.7.0',
      `Too many failed logins from ${ip}: locked out until ${new Date(untilMs).toISOString().slice(11, 19)} UTC`,
    ),
  authMechanismUnsupported: () => reply(504, '5.5.4', 'Unrecognized authentication type: use PLAIN or LOGIN'),
  shuttingDown: () => reply(421, '4.3.2', 'Relay is shutting down, try again later'),

  messageTooLarge: (limitBytes: number) =>
    reply(
      552,
      '5.3.4',
      `Message too big: this relay accepts at most ${formatSize(limitBytes)} (${limitBytes} bytes)`,
    ),
  tooManyRecipients: (limit: number) =>
    reply(
      452,
      '4.5.3',
      `Too many recipients: at most ${limit} per message, send the rest in another message`,
    ),
  badRecipientSyntax: () => reply(501, '5.1.3', 'Bad recipient address syntax'),
  senderNotAllowed: (sender: string, mailbox: string) =>
    reply(
      550,
      '5.7.1',
      `${sender} may not send through this relay: mailbox ${mailbox} has no SendAs permission for it`,
    ),
  senderOutsideConnector: (sender: string, domains: string) =>
    reply(
      550,
      '5.7.1',
      `${sender} is outside ${domains}: the Microsoft 365 connector relays mail from the tenant's accepted domains only`,
    ),
  outsideDirectSend: (recipient: string, domains: string) =>
    reply(
      550,
      '5.7.1',
      `${recipient} is outside ${domains || 'the tenant'}: this relay sends by Microsoft 365 direct send, which only reaches the tenant's own mailboxes`,
    ),
  senderNotAllowedForClient: (sender: string, rule: string) =>
    reply(550, '5.7.1', `${sender} is not an allowed sender for this client (rule ${rule})`),
  fromHeaderNotAllowed: (from: string, rule: string) =>
    reply(
      550,
      '5.7.1',
      `From: ${from} is not an allowed sender for this client (rule ${rule}); nothing was queued`,
    ),
  recipientNotAllowed: (recipient: string, rule: string) =>
    reply(550, '5.7.1', `${recipient} is outside the recipient domains this client may reach (rule ${rule})`),
  rateLimited: (perMinute: number) =>
    reply(450, '4.7.1', `Rate limit: this client may send ${perMinute} messages a minute; try again shortly`),
  dailyQuota: (perDay: number, resetsAtMs: number) =>
    reply(
      452,
      '4.5.3',
      `Daily recipient quota of ${perDay} reached for this client; it resets at ${new Date(resetsAtMs).toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    ),
  badSenderSyntax: () => reply(501, '5.1.7', 'Bad sender address syntax'),

  commandUnrecognized: () => reply(500, '5.5.2', 'Command not recognized'),
  tooManyUnrecognized: () => reply(421, '4.7.0', 'Too many unrecognized commands, closing connection'),
  lineTooLong: () => reply(421, '4.5.0', 'Command line too long, closing connection'),
  idleTimeout: () => reply(421, '4.4.2', 'Idle timeout, closing connection'),
  dataTimeout: (limitText: string) =>
    reply(
      421,
      '4.4.2',
      `Message data not received within ${limitText}, closing connection; nothing was queued`,
    ),

  sessionTimeout: (limitText: string) =>
    reply(
      421,
      '4.4.2',
      `Session time limit of ${limitText} reached, closing connection; reconnect to send more`,
    ),

  queueUnavailable: () =>
    reply(451, '4.3.0', 'Queue temporarily unavailable, message not accepted; try again later'),
  storageFull: () => reply(452, '4.3.1', 'Queue storage is full, message not accepted; try again later'),
  localError: () => reply(451, '4.3.0', 'Local error in processing, message not accepted; try again later'),
} as const;

export type ReplyName = keyof typeof replies;

/**
 * smtp-server's own replies that Bridgehead rewords (matched on the text smtp-server sends),
 * so the device and the admin see one consistent catalogue. Anything not listed goes out as
 * smtp-server words it, with smtp-server's enhanced code.
 */
export const BUILTIN_REWRITES: ReadonlyArray<{
  match: RegExp;
  reply: (m: RegExpMatchArray, options: { maxRecipients?: number }) => SmtpError;
}> = [
  {
    match: /^Error: message exceeds fixed maximum message size (\d+)$/,
    reply: (m) => replies.messageTooLarge(Number(m[1])),
  },
  {
    match: /^Error: too many recipients$/,
    reply: (_m, o) => replies.tooManyRecipients(o.maxRecipients ?? 0),
  },
  { match: /^Error: command not recognized$/, reply: () => replies.commandUnrecognized() },
  { match: /^Error: too many unrecognized commands$/, reply: () => replies.tooManyUnrecognized() },
  { match: /^Error: Command line too long$/, reply: () => replies.lineTooLong() },
  { match: /^Timeout - closing connection$/, reply: () => replies.idleTimeout() },
  { match: /^Server shutting down$/, reply: () => replies.shuttingDown() },
  { match: /^Error: Must issue a STARTTLS command first$/, reply: () => replies.encryptionRequired() },
  { match: /^Error: Unrecognized authentication type$/, reply: () => replies.authMechanismUnsupported() },
  { match: /^Error: Authentication credentials invalid$/, reply: () => replies.authInvalid() },
];
