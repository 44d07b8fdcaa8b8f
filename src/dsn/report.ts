import { randomBytes } from 'node:crypto';

import { headerEnd } from '../smtp/received.ts';
import { rfc5322Date } from '../smtp/received.ts';

/**
 * Delivery status notifications (RFC 3464): a multipart/report with a human-readable part, the
 * machine-readable message/delivery-status, and the returned message or its headers. Pure:
 * what the worker knows about a message and its recipients in, the DSN's bytes out.
 */

export interface DsnRecipient {
  address: string;
  /** ORCPT as received ("rfc822;user@example.com"), or null. */
  orcpt: string | null;
  action: 'failed' | 'delayed';
  /** The upstream's reply line, or our own text (expiry, operator). */
  reply: string;
  /** The host the last attempt went to, when there was one. */
  remoteMta: string | null;
  lastAttemptAt: number | null;
}

export interface DsnInput {
  reportingMta: string;
  queueId: string;
  /** Envelope sender of the original: the DSN's recipient unless redirected. */
  originalSender: string;
  envid: string | null;
  ret: 'FULL' | 'HDRS' | null;
  arrivalDate: number;
  recipients: DsnRecipient[];
  /** The original message as stored (null when its body is already gone). */
  original: Buffer | null;
  /** Above this size the full message is never returned, only its headers. */
  maxReturnBytes: number;
  now: number;
}

/** The enhanced status (RFC 3463) of a reply line, or a generic one for the action. */
export function statusOf(reply: string, action: DsnRecipient['action']): string {
  const m = /(?:^|\s)([245]\.\d{1,3}\.\d{1,3})(?=\s|$)/.exec(reply);
  if (m) return m[1]!;
  const code = /^([245])\d\d\b/.exec(reply)?.[1];
  if (code) return `${code}.0.0`;
  return action === 'delayed' ? '4.0.0' : '5.0.0';
}

export function buildDsn(input: DsnInput): Buffer {
  const boundary = `=_bh_${randomBytes(12).toString('hex')}`;
  const failed = input.recipients.filter((r) => r.action === 'failed');
  const subject = failed.length
    ? 'Undelivered Mail Returned to Sender'
    : 'Delayed Mail (still being retried)';
  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${input.reportingMta}>`,
    `To: <${input.originalSender}>`,
    `Subject: ${subject}`,
    `Date: ${rfc5322Date(new Date(input.now))}`,
    `Message-ID: <${input.queueId}.${input.now.toString(36)}.dsn@${input.reportingMta}>`,
    // RFC 3834: an automatic reply; nothing should answer it.
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
  ];
  const human = [
    `This is the Bridgehead mail relay at ${input.reportingMta}.`,
    '',
    failed.length
      ? 'Your message could not be delivered to the following recipients. This is a permanent'
      : 'Your message has not been delivered yet to the following recipients. The relay keeps',
    failed.length ? 'error; the relay will not try again.' : 'trying; no action is needed unless it fails.',
    '',
    ...input.recipients.map((r) => `  <${r.address}>: ${oneLine(r.reply)}`),
    '',
    `Queue id: ${input.queueId}`,
  ];
  const fields = [
    `Reporting-MTA: dns; ${input.reportingMta}`,
    `X-Bridgehead-Queue-ID: ${input.queueId}`,
    ...(input.envid ? [`Original-Envelope-Id: ${xtextDecode(input.envid)}`] : []),
    `Arrival-Date: ${rfc5322Date(new Date(input.arrivalDate))}`,
  ];
  const perRecipient = input.recipients.map((r) =>
    [
      ...(r.orcpt ? [`Original-Recipient: ${orcptField(r.orcpt)}`] : []),
      `Final-Recipient: rfc822; ${r.address}`,
      `Action: ${r.action}`,
      `Status: ${statusOf(r.reply, r.action)}`,
      ...(r.remoteMta ? [`Remote-MTA: dns; ${oneLine(r.remoteMta)}`] : []),
      `Diagnostic-Code: ${/^\d{3}[ -]/.test(r.reply) ? 'smtp' : 'x-bridgehead'}; ${oneLine(r.reply)}`,
      ...(r.lastAttemptAt ? [`Last-Attempt-Date: ${rfc5322Date(new Date(r.lastAttemptAt))}`] : []),
    ].join('\r\n'),
  );
  const parts = [
    `--${boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Description: Notification\r\n\r\n${human.join('\r\n')}\r\n`,
    `--${boundary}\r\nContent-Type: message/delivery-status\r\nContent-Description: Delivery report\r\n\r\n${[fields.join('\r\n'), ...perRecipient].join('\r\n\r\n')}\r\n`,
  ];
  const returned = returnedPart(input);
  const out: Buffer[] = [Buffer.from(`${head.join('\r\n')}\r\n\r\n${parts.join('')}`, 'latin1')];
  if (returned)
    out.push(
      Buffer.from(`--${boundary}\r\n${returned.header}\r\n\r\n`, 'latin1'),
      returned.body,
      Buffer.from('\r\n'),
    );
  out.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(out);
}

/**
 * The whole original only when the sender asked for it (RET=FULL) and it is small enough;
 * otherwise its headers. Scans are large, and the sender still has them.
 */
function returnedPart(input: DsnInput): { header: string; body: Buffer } | null {
  if (!input.original) return null;
  if (input.ret === 'FULL' && input.original.length <= input.maxReturnBytes)
    return {
      header: 'Content-Type: message/rfc822\r\nContent-Description: Undelivered message',
      body: input.original,
    };
  const headers = input.original.subarray(0, headerEnd(input.original));
  return {
    header: 'Content-Type: text/rfc822-headers\r\nContent-Description: Undelivered message headers',
    body: Buffer.from(headers.toString('latin1').replace(/\r?\n\r?\n$/, ''), 'latin1'),
  };
}

function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\r\n\x00-\x1f]+/g, ' ').trim();
}

/** ORCPT arrives as "rfc822;addr" with xtext encoding (RFC 3461 §4.2). */
function orcptField(orcpt: string): string {
  const i = orcpt.indexOf(';');
  if (i < 0) return `rfc822; ${xtextDecode(orcpt)}`;
  return `${orcpt.slice(0, i)}; ${xtextDecode(orcpt.slice(i + 1))}`;
}

function xtextDecode(s: string): string {
  return oneLine(s.replace(/\+([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))));
}
