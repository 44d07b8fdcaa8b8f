import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

import type { SMTPServer } from 'smtp-server';

import type { ListenerConfig } from '../config/schema.ts';
import { normaliseIp } from '../util/address.ts';
import { parseProxyHeader, type ProxyParse } from './proxy-protocol.ts';

/**
 * What happens to a connection before it becomes an SMTP session: the PROXY header from a
 * trusted balancer, the implicit-TLS handshake, and for mode auto the choice between the two
 * from the client's first byte (a TLS ClientHello starts with 0x16; an SMTP client waits
 * for our greeting). Then the socket goes to smtp-server's connect(), which runs the
 * session. Every wait here is bounded, so a client that says nothing holds nothing for long.
 */

/** Time a trusted balancer has to send its PROXY header. */
const PROXY_HEADER_TIMEOUT_MS = 10_000;
const TLS_RECORD_HANDSHAKE = 0x16;

export interface SessionTargets {
  /** Plain session (mode plain) or one offering STARTTLS (starttls, auto). */
  plain?: SMTPServer;
  /** Implicit-TLS session (implicit-tls, auto). */
  secure?: SMTPServer;
}

export interface FrontDoorOptions {
  mode: ListenerConfig['mode'];
  /** Peers whose connections carry a PROXY header, or null when none do. */
  proxyFrom: ((ip: string) => boolean) | null;
  detectWaitMs: number;
  /** A connection that could not reach a session: logged by the caller. */
  onDropped: (peer: string, reason: string) => void;
}

interface SmtpServerInternals {
  _upgrade(socket: Socket, cb: (err: Error | null, tls?: TLSSocket) => void): void;
  connect(socket: Socket, options: { remoteAddress?: string; remotePort?: number }): void;
}

export class FrontDoor {
  readonly server: Server;
  readonly #pending = new Set<Socket>();
  readonly #targets: SessionTargets;
  readonly #options: FrontDoorOptions;

  constructor(targets: SessionTargets, options: FrontDoorOptions) {
    this.#targets = targets;
    this.#options = options;
    this.server = createServer((socket) => void this.#accept(socket));
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /** Stops accepting and drops connections still before their session; sessions close on their own. */
  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.#pending) s.destroy();
    return closed;
  }

  async #accept(socket: Socket): Promise<void> {
    const peer = normaliseIp(socket.remoteAddress ?? '');
    const ignore = () => undefined;
    socket.on('error', ignore);
    this.#pending.add(socket);
    const onTimeout = () => drop('nothing arrived in time');
    const release = () => {
      this.#pending.delete(socket);
      socket.setTimeout(0);
      socket.off('timeout', onTimeout);
      socket.off('error', ignore);
    };
    const drop = (reason: string) => {
      release();
      socket.destroy();
      this.#options.onDropped(peer, reason);
    };
    socket.setTimeout(PROXY_HEADER_TIMEOUT_MS, onTimeout);

    const session: { remoteAddress?: string; remotePort?: number } = {};
    if (this.#options.proxyFrom?.(peer)) {
      const header = await readProxyHeader(socket);
      if (header.status !== 'ok')
        return drop(`PROXY header refused: ${header.status === 'invalid' ? header.reason : 'incomplete'}`);
      if (header.source) {
        session.remoteAddress = header.source.address;
        session.remotePort = header.source.port;
      }
    }
    let secure = this.#options.mode === 'implicit-tls';
    if (this.#options.mode === 'auto') {
      const first = await sniffFirstByte(socket, this.#options.detectWaitMs);
      if (first === 'closed') return drop('closed before the session started');
      secure = first === TLS_RECORD_HANDSHAKE;
    }
    if (socket.destroyed) return drop('closed before the session started');
    release();
    const target = (secure ? this.#targets.secure : this.#targets.plain) as unknown as SmtpServerInternals;
    if (!secure) return target.connect(socket, session);
    // smtp-server's own implicit-TLS path: handshake (with its own timeout), client-certificate
    // request and verification as configured, then the session.
    target._upgrade(socket, (err, tls) => {
      if (err || !tls) {
        socket.destroy();
        return this.#options.onDropped(peer, `TLS handshake failed: ${err?.message ?? 'closed'}`);
      }
      target.connect(tls, session);
    });
  }
}

/** Reads exactly the PROXY header; whatever follows is pushed back for the session. */
function readProxyHeader(socket: Socket): Promise<ProxyParse> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const finish = (r: ProxyParse) => {
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      resolve(r);
    };
    const onEnd = () => finish({ status: 'invalid', reason: 'connection closed before the PROXY header' });
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) {
        buf = Buffer.concat([buf, chunk]);
        const r = parseProxyHeader(buf);
        if (r.status === 'incomplete') continue;
        if (r.status === 'ok' && buf.length > r.consumed) socket.unshift(buf.subarray(r.consumed));
        return finish(r);
      }
    };
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}

/** The first byte the client sends within `waitMs`, pushed back; 'none' when it waits for us. */
function sniffFirstByte(socket: Socket, waitMs: number): Promise<number | 'none' | 'closed'> {
  return new Promise((resolve) => {
    const finish = (r: number | 'none' | 'closed') => {
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      resolve(r);
    };
    const onEnd = () => finish('closed');
    const onReadable = () => {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null) return;
      socket.unshift(chunk);
      finish(chunk[0]!);
    };
    const timer = setTimeout(() => finish('none'), waitMs);
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}
