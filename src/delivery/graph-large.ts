import { simpleParser } from 'mailparser';

/**
 * The large-message path of Graph (facts §5): a draft made from the parsed message, each
 * attachment through an upload session in ranges under 4 MB, then send. Pure part: turning
 * MIME into the draft JSON and the attachments, with the envelope deciding the recipients.
 */
export interface DraftPlan {
  draft: Record<string, unknown>;
  attachments: { name: string; contentType: string; content: Buffer }[];
}

/** Upload ranges must be multiples of 320 KiB and each request under 4 MB. */
export const UPLOAD_CHUNK_BYTES = 10 * 320 * 1024;

const email = (address: string) => ({ emailAddress: { address } });

export async function planLargeMessage(mime: Buffer, envelope: string[]): Promise<DraftPlan> {
  const parsed = await simpleParser(mime);
  const wanted = new Set(envelope.map((a) => a.toLowerCase()));
  const list = (field: typeof parsed.to) =>
    (Array.isArray(field) ? field : field ? [field] : [])
      .flatMap((a) => a.value)
      .map((v) => (v.address ?? '').toLowerCase())
      .filter((a) => wanted.has(a));
  const to = [...new Set(list(parsed.to))];
  const cc = [...new Set(list(parsed.cc))].filter((a) => !to.includes(a));
  const bcc = envelope.map((a) => a.toLowerCase()).filter((a) => !to.includes(a) && !cc.includes(a));
  const html = typeof parsed.html === 'string' ? parsed.html : null;
  const from = Array.isArray(parsed.from) ? parsed.from[0] : parsed.from;
  const draft: Record<string, unknown> = {
    subject: parsed.subject ?? '',
    body: html ? { contentType: 'HTML', content: html } : { contentType: 'Text', content: parsed.text ?? '' },
    toRecipients: to.map(email),
    ccRecipients: cc.map(email),
    bccRecipients: bcc.map(email),
  };
  const fromAddress = from?.value[0]?.address;
  if (fromAddress) draft.from = email(fromAddress);
  return {
    draft,
    attachments: parsed.attachments.map((a, i) => ({
      name: a.filename ?? `attachment-${i + 1}`,
      contentType: a.contentType || 'application/octet-stream',
      content: a.content,
    })),
  };
}
