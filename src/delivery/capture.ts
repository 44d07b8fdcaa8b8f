import { mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';

import type { OutboundMessage, SendResult, Transport } from './transport.ts';

/**
 * Writes each delivered message to <dir>/<queue id>.eml, with the envelope in X-Bridgehead-*
 * headers on top, so the demo and tests can look at what would have left. Written to a
 * temporary name, fsynced and renamed, so a crash never leaves half a file under the real name.
 */
export class CaptureTransport implements Transport {
  readonly kind = 'capture';
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    await mkdir(this.#dir, { recursive: true });
    const head =
      `X-Bridgehead-Queue-Id: ${message.id}\r\n` +
      `X-Bridgehead-Mail-From: <${message.mailFrom}>\r\n` +
      message.recipients.map((r) => `X-Bridgehead-Rcpt-To: <${r.address}>\r\n`).join('');
    const final = join(this.#dir, `${message.id}.eml`);
    const temp = `${final}.tmp`;
    const file = await open(temp, 'w');
    try {
      await file.writeFile(Buffer.concat([Buffer.from(head), message.body]));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, final);
    return {
      upstream: `capture:${this.#dir}`,
      recipients: message.recipients.map((r) => ({
        recipientId: r.id,
        accepted: true,
        reply: `250 2.0.0 captured as ${message.id}.eml`,
        code: 250,
      })),
    };
  }

  async close(): Promise<void> {}
}
