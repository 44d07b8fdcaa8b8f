import type { AddressInfo } from 'node:net';

import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  body: Buffer;
  /** MAIL FROM parameters (RET, ENVID, ...) as smtp-server parsed them. */
  mailArgs: Record<string, unknown>;
}

export interface UpstreamOptions {
  /** Reply for a recipient: return an error text like "550 5.1.1 no such user" to refuse it. */
  rcptReply?: (address: string) => string | null;
  /** Refuse the whole message at end of DATA with this reply. */
  dataReply?: () => string | null;
  /** Delay before answering the end of DATA, in ms. */
  holdMs?: number;
  /** Extra smtp-server options (TLS, auth). */
  server?: Partial<SMTPServerOptions>;
}

export interface Upstream {
  port: number;
  received: ReceivedMail[];
  /** Most transactions (MAIL FROM to end of DATA) that were open at the same time. */
  peakConcurrency(): number;
  close(): Promise<void>;
}

function smtpError(reply: string): Error & { responseCode: number } {
  const err = new Error(reply.slice(4)) as Error & { responseCode: number };
  err.responseCode = Number(reply.slice(0, 3));
  return err;
}

/** A real smtp-server standing in for a smarthost: records what arrives, refuses on request. */
export async function startUpstream(options: UpstreamOptions = {}): Promise<Upstream> {
  const received: ReceivedMail[] = [];
  let open = 0;
  let peak = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    disableReverseLookup: true,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: false,
    logger: false,
    // Tests end while the relay's pooled connection may still be open: do not wait 30 s for it.
    closeTimeout: 100,
    ...options.server,
    onMailFrom(_address, _session, cb) {
      open++;
      peak = Math.max(peak, open);
      cb();
    },
    onRcptTo(address, _session, cb) {
      const reply = options.rcptReply?.(address.address);
      cb(reply ? smtpError(reply) : undefined);
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        // Hold the transaction open briefly so overlapping deliveries are visible to peakConcurrency().
        setTimeout(() => finish(), options.holdMs ?? 0);
      });
      const finish = () => {
        open--;
        const reply = options.dataReply?.();
        if (reply) return cb(smtpError(reply));
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          body: Buffer.concat(chunks),
          mailArgs: (session.envelope.mailFrom ? session.envelope.mailFrom.args : {}) as Record<
            string,
            unknown
          >,
        });
        cb(null, 'OK upstream accepted');
      };
    },
  });
  // A relay killed mid-transaction resets its connection; that is expected here, not a test failure.
  server.on('error', () => undefined);
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.server.address() as AddressInfo).port)),
  );
  return {
    port,
    received,
    peakConcurrency: () => peak,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
