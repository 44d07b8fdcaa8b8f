import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';

import { BUILTIN_REWRITES, type SmtpError } from './replies.ts';

/** A server-specific rewording of one of smtp-server's built-in replies (the sandbox imitates Exchange's). */
export interface ReplyRewrite {
  match: RegExp;
  reply: (m: RegExpMatchArray) => SmtpError;
}

/**
 * Two small patches to smtp-server's connection class, applied once.
 *
 * 1. Replies. smtp-server derives the enhanced status code from the numeric reply code (550 is always
 * 5.1.1, 554 always 5.6.0), which would mislabel our replies: a relay denial must read
 * "554 5.7.1", not "554 5.6.0". The patch makes `send` honour an enhanced code
 * already at the start of the text (every SmtpError puts it there) and rewords the built-in
 * replies listed in BUILTIN_REWRITES. Everything else goes out exactly as smtp-server sends it.
 * test/integration/smtp-wire.test.ts pins the result on a real connection.
 *
 * 2. Greeting delay: see patchedInit below.
 *
 * 3. Bare-LF devices: see patchBareLfData below.
 */
const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;

let patched = false;

type Send = (code: number, data: unknown, context?: unknown) => void;

interface ConnectionInternals {
  send: Send;
  init: () => void;
  connectionReady: () => void;
  _setListeners: (cb: () => void) => void;
  secure: boolean;
  _server: {
    options: {
      maxRecipients?: number;
      greetingDelayMs?: number;
      replyRewrites?: ReplyRewrite[];
      ehloFilter?: (lines: string[], secure: boolean) => string[];
    };
  };
}

export function patchSmtpServerReplies(): void {
  if (patched) return;
  patched = true;
  const proto = SMTPConnection.prototype as unknown as ConnectionInternals;
  const original = proto.send;
  proto.send = function patchedSend(this: typeof proto, code: number, data: unknown, context?: unknown) {
    // A server may reshape its EHLO reply (the sandbox hides AUTH before TLS, as Exchange does).
    if (Array.isArray(data) && code === 250 && this._server.options.ehloFilter) {
      return original.call(
        this,
        code,
        this._server.options.ehloFilter(data as string[], this.secure),
        context,
      );
    }
    if (typeof data === 'string') {
      if (ENHANCED_PREFIX.test(data)) return original.call(this, code, data, false);
      for (const rewrite of this._server.options.replyRewrites ?? []) {
        const m = data.match(rewrite.match);
        if (m) {
          const r = rewrite.reply(m);
          return original.call(this, r.responseCode, r.message, false);
        }
      }
      for (const rewrite of BUILTIN_REWRITES) {
        const m = data.match(rewrite.match);
        if (m) {
          const r = rewrite.reply(m, this._server.options);
          return original.call(this, r.responseCode, r.message, false);
        }
      }
    }
    return original.call(this, code, data, context);
  };

  patchBareLfData();

  // smtp-server waits a fixed 100 ms before the 220 greeting to catch clients that talk first
  // (a spam-bot trait). On a LAN relay that wait is pure latency: it caps one session's rate
  // at ten connections a second, and printers open one connection per message. The delay is
  // taken from the server's greetingDelayMs option instead (limits.greetingDelay; default 0).
  // Bridgehead enforces connection limits itself in onConnect, so smtp-server's maxClients
  // check that init() also did is not needed.
  proto.init = function patchedInit(this: ConnectionInternals) {
    this._setListeners(() => {
      const delay = this._server.options.greetingDelayMs ?? 0;
      if (delay <= 0) return this.connectionReady();
      setTimeout(() => this.connectionReady(), delay).unref();
    });
  };
}

interface StreamInternals {
  _write(chunk: Buffer, encoding: string, next: (err?: Error) => void): void;
  startDataMode(maxBytes?: number): unknown;
  _dataMode: boolean;
  /** Whether the last command line seen ended in a bare LF. */
  _bhLastLineBareLf?: boolean;
  _bhPrevByte?: number;
  /** This message's data is read with bare LF taken as CRLF. */
  _bhBareLfData?: boolean;
}

/**
 * smtp-server ends DATA only at CRLF.CRLF, so a device that writes bare LF throughout (some
 * embedded SMTP stacks and scripts do) would hang until the data timeout. A session whose DATA
 * command itself ended in a bare LF gets its message read with every bare LF taken as CRLF,
 * so its ".\n" ends the data. A client that speaks CRLF never gets this: for it "\n.\n"
 * is body text, never the end of the message (the SMTP-smuggling split), and repair.ts
 * turns such bytes into a dot-stuffed line before anything goes upstream.
 */
function patchBareLfData(): void {
  const proto = SMTPStream.prototype as unknown as StreamInternals;
  const write = proto._write;
  const startDataMode = proto.startDataMode;
  proto._write = function patchedWrite(this: StreamInternals, chunk, encoding, next) {
    if (!this._dataMode) {
      const lf = chunk.lastIndexOf(0x0a);
      if (lf >= 0) this._bhLastLineBareLf = (lf === 0 ? this._bhPrevByte : chunk[lf - 1]) !== 0x0d;
      if (chunk.length > 0) this._bhPrevByte = chunk[chunk.length - 1];
    } else if (this._bhBareLfData) {
      chunk = lfToCrlf(chunk, this._bhPrevByte);
      if (chunk.length > 0) this._bhPrevByte = chunk[chunk.length - 1];
    }
    return write.call(this, chunk, encoding, next);
  };
  proto.startDataMode = function patchedStartDataMode(this: StreamInternals, maxBytes?: number) {
    this._bhBareLfData = this._bhLastLineBareLf === true;
    this._bhPrevByte = 0x0a; // the DATA line's own newline
    return startDataMode.call(this, maxBytes);
  };
}

function lfToCrlf(chunk: Buffer, prev: number | undefined): Buffer {
  let bare = 0;
  for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1))
    if ((i === 0 ? prev : chunk[i - 1]) !== 0x0d) bare++;
  if (bare === 0) return chunk;
  const out = Buffer.allocUnsafe(chunk.length + bare);
  let o = 0;
  for (let i = 0; i < chunk.length; i++) {
    const c = chunk[i]!;
    if (c === 0x0a && (i === 0 ? prev : chunk[i - 1]) !== 0x0d) out[o++] = 0x0d;
    out[o++] = c;
  }
  return out;
}
