import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

import { BUILTIN_REWRITES } from './replies.ts';

/**
 * smtp-server derives the enhanced status code from the numeric reply code (550 is always
 * 5.1.1, 554 always 5.6.0), which would mislabel our replies: a relay denial must read
 * "554 5.7.1", not "554 5.6.0". This patch, applied once, makes `send` honour an enhanced code
 * already at the start of the text (every SmtpError puts it there) and rewords the built-in
 * replies listed in BUILTIN_REWRITES. Everything else goes out exactly as smtp-server sends it.
 * test/unit/smtp/wire.test.ts pins the result on a real connection.
 */
const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;

let patched = false;

type Send = (code: number, data: unknown, context?: unknown) => void;

export function patchSmtpServerReplies(): void {
  if (patched) return;
  patched = true;
  const proto = SMTPConnection.prototype as unknown as {
    send: Send;
    _server: { options: { maxRecipients?: number } };
  };
  const original = proto.send;
  proto.send = function patchedSend(this: typeof proto, code: number, data: unknown, context?: unknown) {
    if (typeof data === 'string') {
      if (ENHANCED_PREFIX.test(data)) return original.call(this, code, data, false);
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
}
