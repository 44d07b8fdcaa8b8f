import addressparser from 'nodemailer/lib/addressparser';

import { headerEnd } from '../smtp/received.ts';

/**
 * Pure builders for Graph sendMail (facts §5). Graph has no SMTP envelope: it sends to the
 * To, Cc and Bcc headers of the MIME it is given. Bridgehead's envelope is authoritative, so:
 * - envelope recipients missing from To/Cc/Bcc are added in a Bcc header (they must get it);
 * - header recipients missing from the envelope are removed from To/Cc/Bcc (the device did not
 *   ask for them; this is the rule of ggpwnkthx/Microsoft-Graph-SMTP-Relay PR #49).
 */
export const GRAPH_MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** Raw MIME that still fits one request once base64 grows it by a third. */
export function fitsOneRequest(mime: Buffer): boolean {
  return Math.ceil(mime.length / 3) * 4 < GRAPH_MAX_REQUEST_BYTES - 1024;
}

interface Parsed {
  name?: string;
  address?: string;
}

const RECIPIENT_HEADERS = ['to', 'cc', 'bcc'];

export function prepareGraphMime(raw: Buffer, envelope: string[]): Buffer {
  const end = headerEnd(raw);
  const head = raw.subarray(0, end).toString('latin1');
  const body = raw.subarray(end);
  const wanted = new Set(envelope.map((a) => a.toLowerCase()));
  const seen = new Set<string>();
  // Unfold into logical header lines, keeping the separator style.
  const lines = head.replace(/\r?\n$/, '').split(/\r?\n(?![ \t])/);
  const out: string[] = [];
  for (const line of lines) {
    const m = /^([\w-]+):\s*([\s\S]*)$/.exec(line);
    if (!m || !RECIPIENT_HEADERS.includes(m[1]!.toLowerCase())) {
      if (line !== '') out.push(line);
      continue;
    }
    const kept = (addressparser(m[2]!.replace(/\r?\n[ \t]+/g, ' '), { flatten: true }) as Parsed[]).filter(
      (a) => {
        const addr = (a.address ?? '').toLowerCase();
        if (!addr || !wanted.has(addr)) return false;
        seen.add(addr);
        return true;
      },
    );
    if (kept.length) out.push(`${m[1]}: ${kept.map(format).join(', ')}`);
  }
  const missing = envelope.filter((a) => !seen.has(a.toLowerCase()));
  if (missing.length) out.push(`Bcc: ${missing.join(', ')}`);
  return Buffer.concat([Buffer.from(`${out.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

function format(a: Parsed): string {
  if (!a.name) return a.address!;
  return `"${a.name.replace(/["\\]/g, '\\$&')}" <${a.address}>`;
}

/** The sendMail path for a mailbox. */
export function sendMailPath(mailbox: string): string {
  return `/v1.0/users/${encodeURIComponent(mailbox)}/sendMail`;
}
