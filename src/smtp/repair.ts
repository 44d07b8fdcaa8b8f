import { headerValue, rfc5322Date } from './received.ts';

/**
 * Repairs applied to every accepted message before it is stored, so what devices send is
 * what Exchange (and any smarthost) accepts, and so no next hop can read the body
 * differently from us. Pure: bytes in, bytes and a list of what was changed out.
 *
 * - Line endings: bare LF and bare CR become CRLF. Beyond tolerating old devices, this is
 *   the SMTP-smuggling defence on the way out: a "\n.\n" or "\r.\r" inside a body becomes
 *   a real line holding one dot, which the upstream client dot-stuffs, so no upstream
 *   server can take it for the end of the data and read what follows as a second message.
 * - Headers a device put inside the first MIME part (Toshiba MFPs put From and Bcc there)
 *   move to the top when the top lacks them; a Bcc there is dropped, its recipients are
 *   in the envelope and must not be readable in the message.
 * - A missing From (Exchange refuses mail without one), Date or Message-ID is added.
 */
export interface RepairContext {
  mailFrom: string;
  hostname: string;
  queueId: string;
  now: Date;
}

export interface Repaired {
  body: Buffer;
  repairs: string[];
}

const CRLF = Buffer.from('\r\n');
/** Header fields that belong to the message, not to a MIME part. */
const MESSAGE_FIELDS = ['from', 'to', 'cc', 'subject', 'date', 'reply-to', 'sender', 'message-id'];
const FIELD_LINE = /^([!-9;-~]+):/;

export function repairMessage(input: Buffer, ctx: RepairContext): Repaired {
  const repairs: string[] = [];
  let body = normaliseLineEndings(input);
  if (body !== input) repairs.push('line-endings');

  let head: string;
  let rest: Buffer;
  if (!FIELD_LINE.test(body.subarray(0, 1000).toString('latin1'))) {
    // No header block at all (text typed into telnet after DATA, or a bare body).
    head = '';
    rest = Buffer.concat([CRLF, body]);
    repairs.push('header-block');
  } else {
    let end = body.indexOf('\r\n\r\n');
    if (end < 0) {
      // Headers only: close the block.
      body = Buffer.concat([body, body.subarray(-2).equals(CRLF) ? CRLF : Buffer.from('\r\n\r\n')]);
      end = body.indexOf('\r\n\r\n');
    }
    head = body.subarray(0, end + 2).toString('latin1'); // each field ends in CRLF; the blank line starts rest
    rest = body.subarray(end + 2);
  }

  const hoisted = hoistNestedHeaders(head, rest);
  if (hoisted) {
    head = hoisted.head;
    rest = hoisted.rest;
    repairs.push(...hoisted.repairs);
  }

  const probe = Buffer.from(`${head}\r\n`, 'latin1');
  const added: string[] = [];
  if (headerValue(probe, 'from') === null) {
    added.push(`From: <${ctx.mailFrom || `postmaster@${ctx.hostname}`}>`);
    repairs.push('from-added');
  }
  if (headerValue(probe, 'date') === null) {
    added.push(`Date: ${rfc5322Date(ctx.now)}`);
    repairs.push('date-added');
  }
  if (headerValue(probe, 'message-id') === null) {
    added.push(`Message-ID: <${ctx.queueId}@${ctx.hostname}>`);
    repairs.push('message-id-added');
  }
  if (repairs.length === 0) return { body: input, repairs };
  const tail = added.map((line) => `${line}\r\n`).join('');
  return { body: Buffer.concat([Buffer.from(head + tail, 'latin1'), rest]), repairs };
}

/** Bare LF and bare CR → CRLF. Returns the input itself when there is nothing to change. */
export function normaliseLineEndings(buf: Buffer): Buffer {
  if (!hasBareLineEnding(buf)) return buf;
  const out = Buffer.allocUnsafe(buf.length * 2);
  let o = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      if (buf[i + 1] === 0x0a) i++;
    } else if (c === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    } else out[o++] = c;
  }
  return out.subarray(0, o);
}

function hasBareLineEnding(buf: Buffer): boolean {
  for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, i + 1))
    if (i === 0 || buf[i - 1] !== 0x0d) return true;
  for (let i = buf.indexOf(0x0d); i >= 0; i = buf.indexOf(0x0d, i + 1)) if (buf[i + 1] !== 0x0a) return true;
  return false;
}

/**
 * In a multipart message, message header fields found in the first part's header block
 * (between the first boundary line and the part's blank line) are moved up.
 */
function hoistNestedHeaders(
  head: string,
  rest: Buffer,
): { head: string; rest: Buffer; repairs: string[] } | null {
  const type = headerValue(Buffer.from(`${head}\r\n`, 'latin1'), 'content-type') ?? '';
  const boundary = /boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i.exec(type);
  if (!/^multipart\//i.test(type) || !boundary) return null;
  const delimiter = `--${boundary[1] ?? boundary[2]}\r\n`;
  // Only the start of the body matters: the first part's headers follow the first delimiter.
  const window = rest.subarray(0, 64 * 1024).toString('latin1');
  const start = window.indexOf(delimiter);
  if (start < 0) return null;
  const partStart = start + delimiter.length;
  const partEnd = window.indexOf('\r\n\r\n', partStart);
  if (partEnd < 0) return null;
  const fields = splitFields(window.slice(partStart, partEnd + 2));
  const topNames = new Set(splitFields(head).map((f) => f.name));
  const keep: string[] = [];
  const moved: string[] = [];
  const repairs: string[] = [];
  for (const f of fields) {
    if (f.name === 'bcc') {
      repairs.push('nested-bcc-removed');
      continue;
    }
    if (MESSAGE_FIELDS.includes(f.name)) {
      if (!topNames.has(f.name)) {
        moved.push(f.raw);
        topNames.add(f.name);
        repairs.push(`nested-${f.name}-hoisted`);
      } else repairs.push(`nested-${f.name}-removed`);
      continue;
    }
    keep.push(f.raw);
  }
  if (repairs.length === 0) return null;
  const newWindowHead = window.slice(0, partStart) + keep.join('');
  const newRest = Buffer.concat([
    Buffer.from(newWindowHead, 'latin1'),
    rest.subarray(Buffer.byteLength(window.slice(0, partEnd + 2), 'latin1')),
  ]);
  return { head: head + moved.join(''), rest: newRest, repairs };
}

/** Header fields with their folded continuation lines, each raw text ending in CRLF. */
function splitFields(block: string): { name: string; raw: string }[] {
  const out: { name: string; raw: string }[] = [];
  for (const line of block.split(/(?<=\r\n)/)) {
    if (line === '') continue;
    const m = FIELD_LINE.exec(line);
    if (m) out.push({ name: m[1]!.toLowerCase(), raw: line });
    else if (out.length > 0 && /^[ \t]/.test(line)) out[out.length - 1]!.raw += line;
    else out.push({ name: '', raw: line });
  }
  return out;
}
