/**
 * Header work done at acceptance: the Received: trace header we prepend (RFC 5321 §4.4) and
 * reading the Message-ID. Pure functions over bytes; no MIME parsing is needed for either.
 */

export interface ReceivedInfo {
  helo: string;
  ip: string;
  byHost: string;
  queueId: string;
  /** RFC 3848 protocol: ESMTP, ESMTPS (TLS), ESMTPA (auth), ESMTPSA. */
  protocol: string;
  tls: { version: string; cipher: string } | null;
  /** Only named when there is exactly one recipient, so Bcc recipients never leak. */
  recipient: string | null;
  date: Date;
}

/** Folded Received: header ending in CRLF. HELO text is client input: reduced to safe characters. */
export function buildReceived(info: ReceivedInfo): string {
  const helo = safeToken(info.helo) || 'unknown';
  const tls = info.tls
    ? `\r\n\t(using ${safeToken(info.tls.version)} with cipher ${safeToken(info.tls.cipher)})`
    : '';
  const forPart = info.recipient ? `\r\n\tfor <${safeToken(info.recipient)}>` : '';
  return (
    `Received: from ${helo} ([${info.ip}])\r\n\tby ${info.byHost} (Bridgehead) with ${info.protocol} id ${info.queueId}` +
    `${tls}${forPart};\r\n\t${rfc5322Date(info.date)}\r\n`
  );
}

function safeToken(value: string): string {
  return value.replace(/[^A-Za-z0-9.\-_:@+[\]=]/g, '').slice(0, 255);
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 5322 date in UTC, e.g. "Sun, 22 Nov 2026 11:18:40 +0000". */
export function rfc5322Date(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return (
    `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`
  );
}

/** Byte offset where the header block ends (after the blank line), or the whole length if none. */
export function headerEnd(message: Buffer): number {
  const crlf = message.indexOf('\r\n\r\n');
  const lf = message.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) return crlf + 4;
  if (lf >= 0) return lf + 2;
  return message.length;
}

/** The unfolded value of the first header with this name, or null. Reads only the header block. */
export function headerValue(message: Buffer, name: string): string | null {
  const head = message.subarray(0, Math.min(headerEnd(message), 256 * 1024)).toString('latin1');
  const re = new RegExp(`^${name}:[ \\t]*((?:.*)(?:\\r?\\n[ \\t].*)*)`, 'im');
  const m = re.exec(head);
  if (!m) return null;
  const value = m[1]!.replace(/\r?\n[ \t]+/g, ' ').trim();
  return value === '' ? null : value.slice(0, 998);
}
