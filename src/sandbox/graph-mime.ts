import { randomBytes } from 'node:crypto';

import addressparser from 'nodemailer/lib/addressparser';
import MailComposer from 'nodemailer/lib/mail-composer';

import { headerEnd, headerValue } from '../smtp/received.ts';

/** Pure helpers for the sandbox's Graph role: MIME in and out, recipients, Bcc. */

export interface GraphJsonMessage {
  subject?: string;
  body?: { contentType?: string; content?: string };
  toRecipients?: { emailAddress: { address: string; name?: string } }[];
  ccRecipients?: { emailAddress: { address: string; name?: string } }[];
  bccRecipients?: { emailAddress: { address: string; name?: string } }[];
  from?: { emailAddress: { address: string; name?: string } };
  attachments?: { name?: string; contentType?: string; contentBytes?: string }[];
}

const addresses = (value: string | null) =>
  value
    ? (addressparser(value, { flatten: true }) as { address?: string }[])
        .map((a) => a.address ?? '')
        .filter(Boolean)
    : [];

/** Strict base64 (Graph rejects anything else with ErrorMimeContentInvalidBase64String). */
export function decodeMimeBase64(text: string): Buffer | null {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0 || compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact))
    return null;
  return Buffer.from(compact, 'base64');
}

export function recipientsOf(raw: Buffer): {
  to: string[];
  cc: string[];
  bcc: string[];
  from: string | null;
} {
  return {
    to: addresses(headerValue(raw, 'to')),
    cc: addresses(headerValue(raw, 'cc')),
    bcc: addresses(headerValue(raw, 'bcc')),
    from: addresses(headerValue(raw, 'from'))[0] ?? null,
  };
}

/** The delivered copy: Exchange removes the Bcc header from what recipients see. */
export function withoutBcc(raw: Buffer): Buffer {
  const end = headerEnd(raw);
  const head = raw.subarray(0, end).toString('latin1');
  const stripped = head.replace(/^bcc:.*(?:\r?\n[ \t].*)*\r?\n/gim, '');
  return Buffer.concat([Buffer.from(stripped, 'latin1'), raw.subarray(end)]);
}

/** Builds MIME from a Graph JSON message (JSON sendMail and JSON drafts). */
export async function composeJson(message: GraphJsonMessage, sender: string): Promise<Buffer> {
  const list = (r: GraphJsonMessage['toRecipients']) => (r ?? []).map((x) => x.emailAddress.address);
  const html = message.body?.contentType?.toLowerCase() === 'html';
  const composer = new MailComposer({
    from: message.from?.emailAddress.address ?? sender,
    to: list(message.toRecipients),
    cc: list(message.ccRecipients),
    bcc: list(message.bccRecipients),
    subject: message.subject ?? '',
    ...(html ? { html: message.body?.content ?? '' } : { text: message.body?.content ?? '' }),
    attachments: (message.attachments ?? []).map((a) => ({
      filename: a.name,
      contentType: a.contentType,
      content: Buffer.from(a.contentBytes ?? '', 'base64'),
    })),
  });
  // keepBcc: the Sent Items copy keeps Bcc, like Outlook's; delivered copies drop it (withoutBcc).
  (composer as unknown as { keepBcc: boolean }).keepBcc = true;
  const node = composer.compile();
  (node as unknown as { keepBcc: boolean }).keepBcc = true;
  return new Promise((resolve, reject) =>
    node.build((err: Error | null, out: Buffer) => (err ? reject(err) : resolve(out))),
  );
}

/** Appends uploaded attachments to a draft's MIME, wrapping the draft in multipart/mixed. */
export function withAttachments(
  raw: Buffer,
  attachments: { name: string; contentType: string; data: Buffer }[],
): Buffer {
  if (attachments.length === 0) return raw;
  const end = headerEnd(raw);
  const head = raw
    .subarray(0, end)
    .toString('latin1')
    .replace(/\r?\n\r?\n$/, '');
  const lines = head.split(/\r?\n(?![ \t])/);
  const isContent = (l: string) => /^(content-[\w-]+|mime-version):/i.test(l);
  const boundary = `----=_sandbox_${randomBytes(8).toString('hex')}`;
  const parts = [
    `${lines.filter((l) => isContent(l) && !/^mime-version:/i.test(l)).join('\r\n') || 'Content-Type: text/plain'}\r\n\r\n${raw.subarray(end).toString('latin1')}`,
    ...attachments.map(
      (a) =>
        `Content-Type: ${a.contentType}; name="${a.name}"\r\nContent-Disposition: attachment; filename="${a.name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${a.data.toString('base64').replace(/.{76}/g, '$&\r\n')}`,
    ),
  ];
  const top = `${lines.filter((l) => !isContent(l)).join('\r\n')}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n`;
  return Buffer.from(
    `${top}${parts.map((p) => `--${boundary}\r\n${p}\r\n`).join('')}--${boundary}--\r\n`,
    'latin1',
  );
}
