import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

import {
  SMTPServer,
  type SMTPServerAddress,
  type SMTPServerDataStream,
  type SMTPServerOptions,
  type SMTPServerSession,
} from 'smtp-server';

import type { Config, ListenerConfig } from '../config/schema.ts';
import { RelayError } from '../errors.ts';
import type { RelayEvents } from '../observability/events.ts';
import type { Logger } from '../observability/logger.ts';
import {
  connectorSenderOutsideTenant,
  directSendOutsideTenant,
  senderRefusedByRoute,
} from '../policy/recipients.ts';
import { routeChooser } from '../policy/routing.ts';
import { isStoreFull } from '../queue/sqlite/store.ts';
import type { NewRecipient, QueueStore } from '../queue/store.ts';
import { cidrMatcher, normaliseIp } from '../util/address.ts';
import { newQueueId } from '../util/id.ts';
import { formatDuration, parseDuration, parseSize } from '../util/units.ts';
import { ConnectionLimiter } from './limits.ts';
import { buildReceived, headerValue } from './received.ts';
import type { SmtpError } from './replies.ts';
import { replies } from './replies.ts';
import { patchSmtpServerReplies } from './wire.ts';

export interface InboundDeps {
  config: Readonly<Config>;
  store: QueueStore;
  events: RelayEvents;
  log: Logger;
  now?: () => number;
  newId?: () => string;
}

export interface BoundListener {
  name: string;
  host: string;
  port: number;
  mode: ListenerConfig['mode'];
}

interface SessionStats {
  listener: string;
  startedAt: number;
  accepted: number;
  rejected: number;
  lastError: string | null;
}

/**
 * The inbound side: one smtp-server per listener. Hooks only translate between smtp-server
 * and the store; replies come from replies.ts. `250` is sent only after store.enqueue()
 * resolved, i.e. after the message and its envelope were committed to disk.
 */
export class InboundServer {
  readonly #deps: InboundDeps;
  readonly #servers: { server: SMTPServer; listener: BoundListener }[] = [];
  readonly #limiter: ConnectionLimiter;
  readonly #allowed: (ip: string) => boolean;
  readonly #sessions = new Map<string, SessionStats>();
  /** Route chosen at MAIL FROM for the session's current transaction. */
  readonly #routes = new Map<string, string>();
  readonly #chooseRoute: (clientIp: string, envelopeFrom: string) => string;
  readonly #maxSize: number;
  readonly #dataTimeoutMs: number;
  #closing = false;

  private constructor(deps: InboundDeps) {
    this.#deps = deps;
    const { limits, relay } = deps.config;
    this.#limiter = new ConnectionLimiter(limits.maxConnections, limits.maxConnectionsPerIp);
    this.#allowed = cidrMatcher(relay.allowFrom);
    this.#maxSize = parseSize(limits.maxMessageSize);
    this.#dataTimeoutMs = parseDuration(limits.dataTimeout);
    this.#chooseRoute = routeChooser(deps.config);
  }

  #routeOf(session: SMTPServerSession): string {
    return this.#routes.get(session.id) ?? this.#deps.config.relay.defaultRoute;
  }

  static async start(deps: InboundDeps): Promise<InboundServer> {
    patchSmtpServerReplies();
    const inbound = new InboundServer(deps);
    try {
      for (const listener of deps.config.listeners) await inbound.#listen(listener);
    } catch (err) {
      await inbound.close(0);
      throw err;
    }
    return inbound;
  }

  get listeners(): BoundListener[] {
    return this.#servers.map((s) => s.listener);
  }

  async #listen(listener: ListenerConfig): Promise<void> {
    const name = listener.name ?? `${listener.host}:${listener.port}`;
    const server = new SMTPServer(this.#options(listener, name));
    server.on('error', (err) => this.#deps.log.warn({ err, listener: name }, 'smtp:error'));
    const port = await new Promise<number>((resolve, reject) => {
      const onError = (err: Error) =>
        reject(
          new RelayError(
            'ERELAY_LISTEN_FAILED',
            `cannot listen on ${listener.host}:${listener.port}: ${err.message}`,
            { cause: err },
          ),
        );
      server.server.once('error', onError);
      server.listen(listener.port, listener.host, () => {
        server.server.off('error', onError);
        resolve((server.server.address() as AddressInfo).port);
      });
    });
    this.#servers.push({ server, listener: { name, host: listener.host, port, mode: listener.mode } });
    this.#deps.log.info({ listener: name, host: listener.host, port, mode: listener.mode }, 'smtp:listening');
  }

  #options(listener: ListenerConfig, name: string): SMTPServerOptions & { greetingDelayMs: number } {
    const { config } = this.#deps;
    const tls =
      listener.cert && listener.key
        ? { cert: readTlsFile(listener.cert), key: readTlsFile(listener.key), minVersion: 'TLSv1.2' as const }
        : {};
    return {
      ...tls,
      name: config.relay.hostname,
      banner: 'Bridgehead relay ready',
      secure: listener.mode === 'implicit-tls',
      // AUTH arrives with the policy work; until then no mechanism is offered.
      disabledCommands: listener.mode === 'plain' ? ['STARTTLS', 'AUTH'] : ['AUTH'],
      authOptional: true,
      size: this.#maxSize,
      maxRecipients: config.limits.maxRecipients,
      maxCommandLength: parseSize(config.limits.maxCommandLength),
      greetingDelayMs: parseDuration(config.limits.greetingDelay),
      hideDSN: false,
      hideENHANCEDSTATUSCODES: false,
      hideSMTPUTF8: false,
      hide8BITMIME: false,
      hidePIPELINING: false,
      // A PTR lookup per connection costs a DNS round trip and tells a LAN relay nothing.
      disableReverseLookup: true,
      socketTimeout: parseDuration(config.limits.idleTimeout),
      closeTimeout: parseDuration(config.shutdown.grace),
      // smtp-server's own lines would log AUTH transcripts raw; we log one line per session instead.
      logger: false,
      onConnect: (session, cb) => cb(this.#onConnect(session, name) ?? undefined),
      onMailFrom: (address: SMTPServerAddress, session, cb) => {
        const route = this.#chooseRoute(normaliseIp(session.remoteAddress), address.address);
        this.#routes.set(session.id, route);
        const outside = connectorSenderOutsideTenant(config, route, address.address);
        if (outside) {
          const refusal = replies.senderOutsideConnector(address.address, outside.join(', '));
          this.#rejected(session, 'mail', refusal);
          return cb(refusal);
        }
        const mailbox = senderRefusedByRoute(config, route, address.address);
        if (!mailbox) return cb();
        const refusal = replies.senderNotAllowed(address.address, mailbox);
        this.#rejected(session, 'mail', refusal);
        cb(refusal);
      },
      onRcptTo: (address: SMTPServerAddress, session, cb) => {
        const outside = directSendOutsideTenant(config, this.#routeOf(session), address.address);
        if (!outside) return cb();
        const refusal = replies.outsideDirectSend(address.address, outside.join(', '));
        this.#rejected(session, 'rcpt', refusal);
        cb(refusal);
      },
      onData: (stream, session, cb) => this.#onData(stream, session, name, cb),
      onClose: (session) => this.#onClose(session),
    };
  }

  #onConnect(session: SMTPServerSession, listener: string): SmtpError | null {
    const ip = normaliseIp(session.remoteAddress);
    let refusal: SmtpError | null = null;
    if (this.#closing) refusal = replies.shuttingDown();
    else if (!this.#allowed(ip)) refusal = replies.relayDenied(ip);
    else {
      const verdict = this.#limiter.open(session.id, ip);
      if (verdict === 'total') refusal = replies.tooManyConnections();
      else if (verdict === 'per-ip')
        refusal = replies.tooManyConnectionsFromIp(ip, this.#deps.config.limits.maxConnectionsPerIp);
    }
    if (refusal) {
      this.#rejected(session, 'connect', refusal);
      return refusal;
    }
    this.#sessions.set(session.id, {
      listener,
      startedAt: this.#now(),
      accepted: 0,
      rejected: 0,
      lastError: null,
    });
    return null;
  }

  #onData(
    stream: SMTPServerDataStream,
    session: SMTPServerSession,
    listener: string,
    cb: (err?: Error | null, message?: string) => void,
  ): void {
    const chunks: Buffer[] = [];
    let finished = false;
    const timer = setTimeout(() => {
      if (finished) return;
      finished = true;
      this.#dropConnection(session, replies.dataTimeout(formatDuration(this.#dataTimeoutMs)));
    }, this.#dataTimeoutMs);
    timer.unref();
    stream.on('data', (chunk: Buffer) => {
      if (!stream.sizeExceeded) chunks.push(chunk);
    });
    // A client that disconnects mid-DATA destroys the stream: nothing is stored or acknowledged.
    stream.on('error', () => {
      finished = true;
      clearTimeout(timer);
    });
    stream.on('end', () => {
      clearTimeout(timer);
      if (finished) return;
      finished = true;
      if (stream.sizeExceeded) {
        const err = replies.messageTooLarge(this.#maxSize);
        this.#rejected(session, 'data', err);
        return cb(err);
      }
      this.#accept(session, listener, Buffer.concat(chunks)).then(
        (queueId) => cb(null, replies.queued(queueId).message),
        (err: SmtpError) => cb(err),
      );
    });
  }

  async #accept(session: SMTPServerSession, listener: string, data: Buffer): Promise<string> {
    const { config, store, events, log } = this.#deps;
    const now = this.#now();
    const id = this.#deps.newId?.() ?? newQueueId(now);
    const envelope = session.envelope;
    const rcpts = envelope.rcptTo;
    const cipher = session.secure
      ? (session as unknown as { tlsOptions?: { version: string; name: string } }).tlsOptions
      : undefined;
    const received = buildReceived({
      helo: session.hostNameAppearsAs ?? '',
      ip: normaliseIp(session.remoteAddress),
      byHost: config.relay.hostname!,
      queueId: id,
      protocol: session.secure ? 'ESMTPS' : 'ESMTP',
      tls: cipher ? { version: cipher.version, cipher: cipher.name } : null,
      recipient: rcpts.length === 1 ? rcpts[0]!.address : null,
      date: new Date(now),
    });
    const body = Buffer.concat([Buffer.from(received, 'latin1'), data]);
    const route = this.#routeOf(session);
    const dsn = (envelope as { dsn?: { ret?: string; envid?: string } }).dsn ?? {};
    const recipients: NewRecipient[] = rcpts.map((r) => {
      const rdsn = (r as { dsn?: { notify?: string[]; orcpt?: string } }).dsn;
      return { address: r.address, notify: rdsn?.notify ?? null, orcpt: rdsn?.orcpt ?? null };
    });
    try {
      await store.enqueue({
        id,
        receivedAt: now,
        mailFrom: envelope.mailFrom ? envelope.mailFrom.address : '',
        recipients,
        dsn: { ret: (dsn.ret as 'FULL' | 'HDRS' | undefined) ?? null, envid: dsn.envid ?? null },
        smtputf8: Boolean((envelope as { smtpUtf8?: boolean }).smtpUtf8),
        bodyType: (envelope as { bodyType?: string }).bodyType === '8bitmime' ? '8bitmime' : '7bit',
        client: {
          ip: normaliseIp(session.remoteAddress),
          helo: session.hostNameAppearsAs ?? '',
          listener,
          user: typeof session.user === 'string' ? session.user : null,
          tls: cipher?.version ?? null,
        },
        route,
        messageIdHeader: headerValue(data, 'message-id'),
        body,
        expiresAt: now + parseDuration(config.delivery.maxAge),
      });
    } catch (err) {
      log.error({ err, sid: session.id }, 'queue:write-failed');
      const reply = isStoreFull(err) ? replies.storageFull() : replies.queueUnavailable();
      this.#rejected(session, 'data', reply);
      throw reply;
    }
    const stats = this.#sessions.get(session.id);
    if (stats) stats.accepted++;
    log.info(
      {
        sid: session.id,
        queueId: id,
        from: envelope.mailFrom ? envelope.mailFrom.address : '',
        rcpts: rcpts.length,
        size: body.length,
        route,
      },
      'smtp:accepted',
    );
    events.emit('smtp:accepted', {
      sid: session.id,
      queueId: id,
      size: body.length,
      recipients: rcpts.length,
      route,
    });
    events.emit('queue:enqueued', { queueId: id, route });
    return id;
  }

  #rejected(session: SMTPServerSession, phase: string, err: SmtpError): void {
    const stats = this.#sessions.get(session.id);
    if (stats) {
      stats.rejected++;
      stats.lastError = err.line;
    }
    this.#deps.log.info(
      { sid: session.id, phase, reply: err.line, remoteAddress: session.remoteAddress },
      'smtp:rejected',
    );
    this.#deps.events.emit('smtp:rejected', {
      sid: session.id,
      phase,
      code: err.responseCode,
      enhanced: err.enhanced,
      remoteAddress: normaliseIp(session.remoteAddress),
    });
  }

  /** Sends a final 421 and closes the connection of this session (data timeout). */
  #dropConnection(session: SMTPServerSession, reply: SmtpError): void {
    this.#rejected(session, 'data', reply);
    for (const { server } of this.#servers) {
      for (const conn of (
        server as unknown as { connections: Set<{ id: string; send: (c: number, t: string) => void }> }
      ).connections) {
        if (conn.id === session.id) conn.send(reply.responseCode, reply.message); // 421 closes the connection
      }
    }
  }

  #onClose(session: SMTPServerSession): void {
    this.#limiter.close(session.id);
    this.#routes.delete(session.id);
    const stats = this.#sessions.get(session.id);
    if (!stats) return;
    this.#sessions.delete(session.id);
    const tls = (session as unknown as { tlsOptions?: { version?: string } }).tlsOptions?.version ?? null;
    this.#deps.log.info(
      {
        sid: session.id,
        listener: stats.listener,
        remoteAddress: normaliseIp(session.remoteAddress),
        helo: session.hostNameAppearsAs,
        tls,
        accepted: stats.accepted,
        rejected: stats.rejected,
        lastError: stats.lastError ?? undefined,
        durationMs: this.#now() - stats.startedAt,
      },
      'smtp:session',
    );
    this.#deps.events.emit('smtp:session', {
      sid: session.id,
      listener: stats.listener,
      remoteAddress: normaliseIp(session.remoteAddress),
      tlsVersion: tls,
    });
  }

  /**
   * Stops accepting connections, lets open sessions carry on (even start new transactions) for
   * up to `graceMs`, then answers 421 4.3.2 to the rest and closes them. smtp-server's own
   * close() would answer 421 to the next command at once, cutting short a device that is
   * between two messages.
   */
  async close(graceMs = 0): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#servers.map(({ server }) => closeGracefully(server, graceMs)));
  }

  #now(): number {
    return this.#deps.now?.() ?? Date.now();
  }
}

interface ConnectionHandle {
  send(code: number, text: string): void;
  close(): void;
}

async function closeGracefully(server: SMTPServer, graceMs: number): Promise<void> {
  const internals = server as unknown as {
    connections: Set<ConnectionHandle>;
    _pendingSockets?: Set<{ destroy(): void }>;
  };
  const closed = new Promise<void>((resolve) => server.server.close(() => resolve()));
  // Sockets still in a TLS handshake or PROXY header have no session that could finish.
  internals._pendingSockets?.forEach((s) => s.destroy());
  const deadline = Date.now() + graceMs;
  while (internals.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  const bye = replies.shuttingDown();
  for (const conn of internals.connections) conn.send(bye.responseCode, bye.message); // 421 closes the connection
  await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())]);
}

function readTlsFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new RelayError('ERELAY_TLS_FILES', `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
}
