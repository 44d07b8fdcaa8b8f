import type { TLSSocket } from 'node:tls';

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
import { type ClientIdentity, ClientPolicy, type VerifiedCertificate } from '../policy/clients.ts';
import { DeviceBudgets } from '../policy/device-budget.ts';
import type { QueueStore } from '../queue/store.ts';
import { cidrMatcher, normaliseIp } from '../util/address.ts';
import { PerSecond } from '../util/per-second.ts';
import { parseDuration, parseSize } from '../util/units.ts';
import { DeviceAuth } from './auth.ts';
import { FrontDoor, type SessionTargets } from './front-door.ts';
import { Intake } from './intake.ts';
import { ConnectionLimiter } from './limits.ts';
import { replies, SmtpError } from './replies.ts';
import { type ListenerTls, readListenerTls, verifiedPeer, watchListenerTls } from './tls.ts';
import { type Transaction, TransactionPolicy } from './transaction.ts';
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

interface SessionState {
  listener: ListenerConfig & { name: string };
  startedAt: number;
  accepted: number;
  rejected: number;
  lastError: string | null;
  certificate: VerifiedCertificate | null;
  tx: Transaction | null;
  /** A body is being received: the session time limit waits for it (the data timeout bounds it). */
  inData: boolean;
  sessionTimer: NodeJS.Timeout;
}

interface OpenListener {
  door: FrontDoor;
  servers: SMTPServer[];
  listener: BoundListener;
  stopWatching: () => void;
}

/**
 * The inbound side: per listener a front door (PROXY header, TLS detection) and smtp-server
 * for the session. Hooks translate between smtp-server, the client policy and the intake;
 * replies come from replies.ts. `250` is sent only after the message and its envelope were
 * committed to disk (intake.ts).
 */
export class InboundServer {
  readonly #deps: InboundDeps;
  readonly #open: OpenListener[] = [];
  readonly #limiter: ConnectionLimiter;
  readonly #policy: ClientPolicy;
  readonly #budgets: DeviceBudgets;
  readonly #auth: DeviceAuth;
  readonly #intake: Intake;
  readonly #sessions = new Map<string, SessionState>();
  readonly #transactions: TransactionPolicy;
  readonly #maxSize: number;
  readonly #refusalBudget = new PerSecond(100);
  #closing = false;

  private constructor(deps: InboundDeps) {
    this.#deps = deps;
    const { limits } = deps.config;
    const now = () => this.#now();
    this.#limiter = new ConnectionLimiter(limits.maxConnections, limits.maxConnectionsPerIp);
    this.#policy = new ClientPolicy(deps.config);
    this.#budgets = new DeviceBudgets(deps.store.ledger(), now);
    this.#auth = new DeviceAuth(deps.config, deps.events, deps.log, now, deps.store.ledger());
    this.#maxSize = parseSize(limits.maxMessageSize);
    this.#transactions = new TransactionPolicy(deps.config, this.#policy, this.#budgets, this.#maxSize);
    this.#intake = new Intake({
      ...deps,
      now,
      maxSize: this.#maxSize,
      budgets: this.#budgets,
      rejected: (session, phase, reply) => this.#rejected(session, phase, reply),
      accepted: (session) => {
        const state = this.#sessions.get(session.id);
        if (state) state.accepted++;
      },
      transaction: (session) => this.#sessions.get(session.id)?.tx ?? null,
      dropConnection: (session, reply) => this.#dropConnection(session, reply),
    });
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
    return this.#open.map((o) => o.listener);
  }

  async #listen(config: ListenerConfig): Promise<void> {
    const listener = { ...config, name: config.name ?? `${config.host}:${config.port}` };
    const { log } = this.#deps;
    const tls = readListenerTls(listener);
    const targets: SessionTargets = {};
    if (listener.mode !== 'implicit-tls') targets.plain = this.#smtpServer(listener, false, tls);
    if (listener.mode === 'implicit-tls' || listener.mode === 'auto')
      targets.secure = this.#smtpServer(listener, true, tls);
    const servers = [targets.plain, targets.secure].filter((s): s is SMTPServer => Boolean(s));
    const door = new FrontDoor(targets, {
      mode: listener.mode,
      proxyFrom: listener.proxyFrom.length > 0 ? cidrMatcher(listener.proxyFrom) : null,
      detectWaitMs: parseDuration(listener.tlsDetectWait),
      onDropped: (peer, reason) =>
        log.info({ listener: listener.name, remoteAddress: peer, reason }, 'smtp:dropped'),
    });
    door.server.on('error', (err) => log.warn({ err, listener: listener.name }, 'smtp:error'));
    let port: number;
    try {
      port = await door.listen(listener.port, listener.host);
    } catch (err) {
      throw new RelayError(
        'ERELAY_LISTEN_FAILED',
        `cannot listen on ${listener.host}:${listener.port}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const stopWatching = tls
      ? watchListenerTls(
          listener,
          (fresh) => {
            for (const s of servers) s.updateSecureContext(fresh);
            log.info({ listener: listener.name }, 'smtp:tls-reloaded');
          },
          (err) => log.warn({ err, listener: listener.name }, 'smtp:tls-reload-failed'),
        )
      : () => undefined;
    const bound = { name: listener.name, host: listener.host, port, mode: listener.mode };
    this.#open.push({ door, servers, listener: bound, stopWatching });
    log.info(
      {
        listener: listener.name,
        host: listener.host,
        port,
        mode: listener.mode,
        tlsProfile: tls ? listener.tlsProfile : undefined,
      },
      'smtp:listening',
    );
  }

  #smtpServer(
    listener: ListenerConfig & { name: string },
    secure: boolean,
    tls: ListenerTls | null,
  ): SMTPServer {
    const server = new SMTPServer(this.#options(listener, secure, tls));
    server.on('error', (err) => this.#deps.log.warn({ err, listener: listener.name }, 'smtp:error'));
    return server;
  }

  #options(
    listener: ListenerConfig & { name: string },
    secure: boolean,
    tls: ListenerTls | null,
  ): SMTPServerOptions & Record<string, unknown> {
    const { config } = this.#deps;
    const plainAuth = listener.allowPlainAuth;
    const disabled: string[] = [];
    if (listener.mode === 'plain') disabled.push('STARTTLS');
    // AUTH where a password would cross the wire readable is not offered at all.
    if (!this.#auth.enabled || (listener.mode === 'plain' && !plainAuth)) disabled.push('AUTH');
    return {
      ...(tls ?? {}),
      name: config.relay.hostname,
      banner: 'Bridgehead relay ready',
      secure,
      disabledCommands: disabled,
      authMethods: ['PLAIN', 'LOGIN'],
      authOptional: true,
      allowInsecureAuth: plainAuth,
      // Before STARTTLS, AUTH is not advertised unless plaintext AUTH is allowed here.
      ehloFilter: (lines: string[], isSecure: boolean) =>
        isSecure || plainAuth ? lines : lines.filter((l) => !/^AUTH /.test(l)),
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
      onConnect: (session, cb) => void this.#onConnect(session, listener).then((r) => cb(r ?? undefined)),
      onSecure: (socket, session, cb) => {
        const state = this.#sessions.get(session.id);
        if (state && listener.clientCa) state.certificate = verifiedPeer(socket as TLSSocket);
        cb();
      },
      onAuth: (auth, session, cb) => this.#auth.handle(auth, session, cb),
      onMailFrom: (address: SMTPServerAddress, session, cb) =>
        void this.#guard(this.#onMailFrom(address, session), session, 'mail', address).then(cb),
      onRcptTo: (address: SMTPServerAddress, session, cb) =>
        void this.#guard(this.#onRcptTo(address, session), session, 'rcpt', address).then(cb),
      onData: (stream: SMTPServerDataStream, session, cb) =>
        this.#intake.receive(stream, session, listener.name, cb),
      onClose: (session) => this.#onClose(session),
    };
  }

  async #onConnect(
    session: SMTPServerSession,
    listener: ListenerConfig & { name: string },
  ): Promise<SmtpError | null> {
    const ip = normaliseIp(session.remoteAddress);
    let refusal: SmtpError | null = null;
    if (this.#closing) refusal = replies.shuttingDown();
    else if (!this.#policy.mayConnect(listener.name, ip)) refusal = replies.relayDenied(ip);
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
    // Registered before the lockout check may wait for the database, so a client that hangs up
    // meanwhile is cleaned up by onClose like any other.
    this.#sessions.set(session.id, {
      listener,
      startedAt: this.#now(),
      accepted: 0,
      rejected: 0,
      lastError: null,
      certificate: null,
      tx: null,
      inData: false,
      sessionTimer: this.#sessionTimer(session),
    });
    const locked = await this.#auth.lockedOut(ip).catch((err: unknown) => {
      // The shared lockouts cannot be read: this node's own still hold, and AUTH still checks
      // the password, so the device is let in rather than every device refused.
      this.#deps.log.warn({ err, sid: session.id }, 'smtp:lockout-check-failed');
      return null;
    });
    if (locked) {
      this.#forget(session.id);
      this.#rejected(session, 'connect', locked);
    }
    return locked;
  }

  /**
   * Every session ends after limits.sessionTimeout, however busy: a client trickling one byte
   * at a time never trips the idle timeout, and would otherwise hold its slot for days.
   */
  #sessionTimer(session: SMTPServerSession): NodeJS.Timeout {
    const limitMs = parseDuration(this.#deps.config.limits.sessionTimeout);
    const fire = () => {
      const state = this.#sessions.get(session.id);
      if (!state) return;
      if (state.inData) {
        state.sessionTimer = setTimeout(fire, 1000).unref();
        return;
      }
      const reply = replies.sessionTimeout(this.#deps.config.limits.sessionTimeout);
      this.#rejected(session, 'session', reply);
      for (const conn of this.#connections())
        if (conn.id === session.id) conn.send(reply.responseCode, reply.message);
    };
    return setTimeout(fire, limitMs).unref();
  }

  #identity(session: SMTPServerSession, state: SessionState): ClientIdentity {
    return {
      listener: state.listener.name,
      ip: normaliseIp(session.remoteAddress),
      user: typeof session.user === 'string' ? session.user : null,
      certificate: state.certificate,
    };
  }

  /**
   * A decision that could not be made (the budget ledger's database is unreachable) is a
   * temporary refusal the device retries, never a crash or a silent accept.
   */
  async #guard(
    decision: Promise<SmtpError | null>,
    session: SMTPServerSession,
    phase: string,
    address: SMTPServerAddress,
  ): Promise<SmtpError | null> {
    try {
      return await decision;
    } catch (err) {
      this.#deps.log.error({ err, sid: session.id, phase }, 'smtp:policy-failed');
      const refusal = replies.queueUnavailable();
      this.#rejected(session, phase, refusal, address.address);
      return refusal;
    }
  }

  async #onMailFrom(address: SMTPServerAddress, session: SMTPServerSession): Promise<SmtpError | null> {
    const state = this.#sessions.get(session.id);
    if (!state) return replies.localError();
    state.tx = null;
    const refusal = await this.#decideMail(address, session, state);
    if (refusal) this.#rejected(session, 'mail', refusal, address.address);
    return refusal;
  }

  async #decideMail(
    address: SMTPServerAddress,
    session: SMTPServerSession,
    state: SessionState,
  ): Promise<SmtpError | null> {
    if (state.listener.requireTls && !session.secure) return replies.tlsRequired();
    const args = address.args as Record<string, string> | false;
    const decided = await this.#transactions.mail(
      this.#identity(session, state),
      address.address,
      (args && Number(args.SIZE)) || 0,
    );
    if (decided instanceof SmtpError) return decided;
    state.tx = decided;
    return null;
  }

  async #onRcptTo(address: SMTPServerAddress, session: SMTPServerSession): Promise<SmtpError | null> {
    const tx = this.#sessions.get(session.id)?.tx;
    const refusal = tx
      ? await this.#transactions.rcpt(tx, address.address, session.envelope.rcptTo.length)
      : replies.localError();
    if (refusal) this.#rejected(session, 'rcpt', refusal, address.address);
    return refusal;
  }

  #rejected(session: SMTPServerSession, phase: string, err: SmtpError, address?: string): void {
    const state = this.#sessions.get(session.id);
    if (state) {
      state.rejected++;
      state.lastError = err.line;
    }
    const ip = normaliseIp(session.remoteAddress);
    this.#deps.log.info({ sid: session.id, phase, reply: err.line, remoteAddress: ip }, 'smtp:rejected');
    this.#deps.events.emit('smtp:rejected', {
      sid: session.id,
      phase,
      code: err.responseCode,
      enhanced: err.enhanced,
      remoteAddress: ip,
      reply: err.line,
    });
    // The trace keeps refusals too (Exchange's own trace cannot show them), within a budget
    // so a flood of refused connections cannot turn into a flood of writes.
    if (!this.#refusalBudget.take(this.#now())) return;
    const sender =
      phase === 'mail'
        ? (address ?? null)
        : session.envelope?.mailFrom
          ? session.envelope.mailFrom.address
          : null;
    this.#deps.store
      .recordRefusal({
        at: this.#now(),
        ip,
        listener: state?.listener.name ?? '',
        user: typeof session.user === 'string' ? session.user : null,
        phase,
        sender,
        recipient: phase === 'rcpt' ? (address ?? null) : null,
        reply: err.line,
      })
      .catch((e: unknown) => this.#deps.log.warn({ err: e }, 'queue:refusal-record-failed'));
  }

  /** Sends a final 421 and closes the connection of this session (data timeout). */
  #dropConnection(session: SMTPServerSession, reply: SmtpError): void {
    this.#rejected(session, 'data', reply);
    for (const conn of this.#connections()) {
      if (conn.id === session.id) conn.send(reply.responseCode, reply.message); // 421 closes the connection
    }
  }

  *#connections(): Generator<ConnectionHandle> {
    for (const { servers } of this.#open)
      for (const server of servers)
        yield* (server as unknown as { connections: Set<ConnectionHandle> }).connections;
  }

  /** Frees a session's connection slot, timer and state; returns the state it had, if any. */
  #forget(sessionId: string): SessionState | undefined {
    this.#limiter.close(sessionId);
    const state = this.#sessions.get(sessionId);
    if (!state) return undefined;
    clearTimeout(state.sessionTimer);
    this.#sessions.delete(sessionId);
    return state;
  }

  #onClose(session: SMTPServerSession): void {
    const state = this.#forget(session.id);
    if (!state) return;
    const tls = (session as unknown as { tlsOptions?: { version?: string } }).tlsOptions?.version ?? null;
    this.#deps.log.info(
      {
        sid: session.id,
        listener: state.listener.name,
        remoteAddress: normaliseIp(session.remoteAddress),
        helo: session.hostNameAppearsAs,
        tls,
        user: typeof session.user === 'string' ? session.user : undefined,
        accepted: state.accepted,
        rejected: state.rejected,
        lastError: state.lastError ?? undefined,
        durationMs: this.#now() - state.startedAt,
      },
      'smtp:session',
    );
    this.#deps.events.emit('smtp:session', {
      sid: session.id,
      listener: state.listener.name,
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
    for (const o of this.#open) o.stopWatching();
    const doors = Promise.all(this.#open.map((o) => o.door.close()));
    const deadline = Date.now() + graceMs;
    const open = () => [...this.#connections()];
    while (open().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    const bye = replies.shuttingDown();
    for (const conn of open()) conn.send(bye.responseCode, bye.message); // 421 closes the connection
    await Promise.race([doors, new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  #now(): number {
    return this.#deps.now?.() ?? Date.now();
  }
}

interface ConnectionHandle {
  id: string;
  send(code: number, text: string): void;
}
