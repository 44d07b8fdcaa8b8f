import addressparser from 'nodemailer/lib/addressparser';

import { headerEnd, headerValue } from '../smtp/received.ts';
import { domainOf } from '../util/address.ts';

/**
 * Who sends a message through Microsoft 365, and as whom. Exchange lets a mailbox send only as
 * itself and the addresses it has SendAs on (5.7.60 at MAIL, 5.2.252 on the From header, facts
 * §2.2), while devices send as whatever they were set up with. Pure functions: the transports
 * apply the result.
 */
export interface SenderSettings {
  /** The route's mailbox. */
  mailbox: string;
  /** fixed: always `mailbox`; envelope: the envelope sender is the mailbox; map: look it up. */
  mode: 'fixed' | 'envelope' | 'map';
  /** For mode map: exact address or "@domain" → mailbox. */
  map: Record<string, string>;
  /** Addresses the sending mailboxes may send as (SendAs grants), besides themselves. */
  sendAs: string[];
  /** What to do with a sender the mailbox may not use. */
  fromPolicy: 'rewrite' | 'pass' | 'reject';
  /** More service accounts that send like `mailbox` (mode fixed): the scheduler spreads mail over them. */
  pool?: string[];
}

export interface SenderDecision {
  mailbox: string;
  mailFrom: string;
  body: Buffer;
  rewritten: boolean;
}

/** `assigned` is the mailbox a client rule gives the device (clients[].mailbox); it wins. */
export function sendingMailbox(settings: SenderSettings, envelopeFrom: string, assigned?: string): string {
  if (assigned) return assigned;
  if (settings.mode === 'envelope' && envelopeFrom) return envelopeFrom;
  if (settings.mode === 'map') {
    const a = envelopeFrom.toLowerCase();
    const hit =
      Object.entries(settings.map).find(([k]) => k.toLowerCase() === a) ??
      Object.entries(settings.map).find(
        ([k]) => k.startsWith('@') && k.slice(1).toLowerCase() === domainOf(a),
      );
    if (hit) return hit[1];
  }
  return settings.mailbox;
}

/**
 * Every mailbox that may send a message: the assigned one, else in mode fixed the route's
 * mailbox and its pool (each with the same SendAs grants, or From rewritten to it), else the
 * one the sender mapping names.
 */
export function candidateMailboxes(
  settings: SenderSettings,
  envelopeFrom: string,
  assigned?: string,
): string[] {
  if (assigned) return [assigned];
  if (settings.mode === 'fixed') return [settings.mailbox, ...(settings.pool ?? [])];
  return [sendingMailbox(settings, envelopeFrom)];
}

export function mayUse(settings: SenderSettings, mailbox: string, address: string): boolean {
  const a = address.toLowerCase();
  return a === mailbox.toLowerCase() || settings.sendAs.some((s) => s.toLowerCase() === a);
}

/**
 * With fromPolicy rewrite, a sender the mailbox may not use is replaced by the mailbox: in the
 * envelope, and in the From header, whose original address moves to Reply-To (unless one is
 * set) so replies still reach the device's owner. The display name is kept.
 */
export function decideSender(
  settings: SenderSettings,
  envelopeFrom: string,
  body: Buffer,
  assigned?: string,
): SenderDecision {
  const mailbox = sendingMailbox(settings, envelopeFrom, assigned);
  // Exchange takes no null sender from a mailbox (5.7.60): a bounce leaves as the mailbox.
  if (envelopeFrom === '') envelopeFrom = mailbox;
  if (settings.fromPolicy !== 'rewrite') return { mailbox, mailFrom: envelopeFrom, body, rewritten: false };
  const fromHeader = headerValue(body, 'from');
  const parsed = (
    addressparser(fromHeader ?? '', { flatten: true }) as { name?: string; address?: string }[]
  )[0];
  const headerOk = !parsed?.address || mayUse(settings, mailbox, parsed.address);
  const envelopeOk = envelopeFrom === '' || mayUse(settings, mailbox, envelopeFrom);
  if (headerOk && envelopeOk) return { mailbox, mailFrom: envelopeFrom, body, rewritten: false };
  const mailFrom = envelopeOk ? envelopeFrom : mailbox;
  if (headerOk) return { mailbox, mailFrom, body, rewritten: true };
  const end = headerEnd(body);
  let head = body.subarray(0, end).toString('latin1');
  const name = parsed!.name?.replace(/["\\\r\n]/g, '') ?? '';
  const newFrom = `From: ${name ? `"${name}" ` : ''}<${mailbox}>`;
  head = head.replace(/^from:.*(?:\r?\n[ \t].*)*/im, newFrom);
  if (!headerValue(body, 'reply-to'))
    head = head.replace(/\r?\n\r?\n$/, `\r\nReply-To: ${parsed!.address}\r\n\r\n`);
  return {
    mailbox,
    mailFrom,
    body: Buffer.concat([Buffer.from(head, 'latin1'), body.subarray(end)]),
    rewritten: true,
  };
}
