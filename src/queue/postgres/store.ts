import pg, { type Pool, type PoolClient } from 'pg';

import { RelayError } from '../../errors.ts';
import type {
  Attempt,
  AttemptReport,
  ClaimedMessage,
  ClaimOptions,
  ListFilter,
  MessageDetail,
  NewMessage,
  QueuedMessage,
  QueueStats,
  QueueStore,
  Recipient,
  RecipientState,
  Refusal,
  TraceEvent,
  TraceQuery,
  TraceRow,
} from '../store.ts';
import { PostgresLedger } from './ledger.ts';
import { migratePostgres } from './migrate.ts';
import * as SQL from './sql/index.ts';
import { PostgresTrace } from './trace.ts';
import { inTransaction } from './tx.ts';

/** BIGINT columns (times in ms, serial ids) fit a JS number: read them as numbers, not strings. */
const TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

type Row = Record<string, unknown>;

/** Bodies above this are read in slices of this size (see readBody). */
const BODY_SLICE_BYTES = 1024 * 1024;

/** NOTIFY channel: a message was queued (payload: its route). */
const CHANNEL = 'bridgehead_queued';
/** Pauses between attempts to LISTEN again after the connection was lost. */
const RESUBSCRIBE_MIN_MS = 500;
const RESUBSCRIBE_MAX_MS = 10_000;

export interface PostgresStoreOptions {
  url: string;
  /** Connections in the pool (default 10). */
  maxConnections?: number;
  /** Release every lease at start (a single node restarting; never with several nodes). */
  recoverLeases?: boolean;
}

/**
 * The queue on PostgreSQL, for several nodes on one database. A message is acknowledged after
 * its transaction commits (synchronous_commit on, the server default); claims take due rows
 * with FOR UPDATE SKIP LOCKED and a lease, so two nodes never deliver the same message at once
 * and a dead node's leases simply expire. Bodies are BYTEA, so any node can deliver any message.
 */
export class PostgresQueueStore implements QueueStore {
  readonly #pool: Pool;
  readonly #trace: PostgresTrace;
  readonly #ledger: PostgresLedger;
  readonly #subscriptions = new Set<() => Promise<void>>();
  #closed = false;

  private constructor(pool: Pool) {
    this.#pool = pool;
    this.#trace = new PostgresTrace(pool);
    this.#ledger = new PostgresLedger(pool);
  }

  static async open(options: PostgresStoreOptions): Promise<PostgresQueueStore> {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      types: TYPES,
      connectionTimeoutMillis: 10_000,
    });
    // An idle client that loses its connection must not crash the process; the next query reports it.
    pool.on('error', () => undefined);
    try {
      await migratePostgres(pool);
      if (options.recoverLeases) await pool.query(SQL.recoverLeases);
    } catch (err) {
      await pool.end();
      if (err instanceof RelayError) throw err;
      throw new RelayError(
        'ERELAY_STORE_UNAVAILABLE',
        `cannot open the PostgreSQL queue database: ${(err as Error).message}`,
        { cause: err },
      );
    }
    return new PostgresQueueStore(pool);
  }

  #tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.#pool, fn);
  }

  async enqueue(m: NewMessage): Promise<void> {
    if (this.#closed) throw new RelayError('ERELAY_STORE_UNAVAILABLE', 'the queue store is closed');
    try {
      // One statement is one implicit transaction: committed (and so acknowledged) whole or not at all.
      await this.#pool.query(SQL.enqueueMessage, [
        m.id,
        m.receivedAt,
        m.mailFrom,
        m.dsn.ret,
        m.dsn.envid,
        m.smtputf8,
        m.bodyType,
        JSON.stringify(m.client),
        m.route,
        m.messageIdHeader,
        m.body.length,
        m.expiresAt,
        m.dedupKey ?? null,
        m.body,
        m.recipients.map((r) => r.address),
        m.recipients.map((r) => (r.notify ? r.notify.join(',') : null)),
        m.recipients.map((r) => r.orcpt),
      ]);
    } catch (err) {
      throw new RelayError('ERELAY_STORE_UNAVAILABLE', `queue write failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async claimDue(owner: string, o: ClaimOptions): Promise<ClaimedMessage[]> {
    const { rows } = await this.#pool.query(SQL.claimDue, [
      owner,
      o.now + o.leaseMs,
      o.now,
      o.limit,
      o.routes ?? null,
    ]);
    const messages = await this.#withRecipients(rows);
    return messages
      .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.receivedAt - b.receivedAt)
      .map((m) => ({ ...m, leaseOwner: owner, leaseUntil: o.now + o.leaseMs }));
  }

  /**
   * A big body is read in slices: pg receives BYTEA as hex text and decodes it in JavaScript,
   * which holds about ten times the value in memory at once (350 MB for a 35 MB message,
   * measured in docs/benchmark.md); slice by slice that stays near the body's own size. (The
   * binary result format would avoid the hex, but pg decodes every field as UTF-8, which
   * corrupts 8-bit bodies.)
   */
  async readBody(id: string): Promise<Buffer> {
    const size = (await this.#pool.query(SQL.bodySize, [id])).rows[0]?.n as number | undefined;
    if (size === undefined)
      throw new RelayError('ERELAY_MESSAGE_NOT_FOUND', `no body stored for message ${id}`);
    if (size <= BODY_SLICE_BYTES) {
      const { rows } = await this.#pool.query(SQL.readBody, [id]);
      if (!rows[0]) throw new RelayError('ERELAY_MESSAGE_NOT_FOUND', `no body stored for message ${id}`);
      return rows[0].data as Buffer;
    }
    const body = Buffer.allocUnsafe(size);
    for (let offset = 0; offset < size; offset += BODY_SLICE_BYTES) {
      const { rows } = await this.#pool.query(SQL.readBodySlice, [id, offset + 1, BODY_SLICE_BYTES]);
      const slice = rows[0]?.data as Buffer | undefined;
      // Deleted while it was being read (an operator's delete): nothing to send.
      if (!slice) throw new RelayError('ERELAY_MESSAGE_NOT_FOUND', `no body stored for message ${id}`);
      slice.copy(body, offset);
    }
    return body;
  }

  async recordAttempt(report: AttemptReport): Promise<void> {
    await this.#tx(async (c) => {
      const lease = await c.query(SQL.lockLease, [report.messageId]);
      // A node whose lease expired and was taken over must not overwrite the new owner's work.
      if (!lease.rows[0] || lease.rows[0].lease_owner !== report.owner) return;
      const now = report.startedAt + report.durationMs;
      for (const r of report.results) {
        await c.query(SQL.insertAttempt, [
          report.messageId,
          r.recipientId,
          report.startedAt,
          report.durationMs,
          report.transport,
          report.upstream,
          r.outcome,
          r.reply,
          r.category,
        ]);
        await c.query(SQL.updateRecipient, [r.outcome, r.reply, now, r.recipientId, report.messageId]);
      }
      const lastReply = report.results.at(-1)?.reply ?? null;
      const pending = await c.query(SQL.countPending, [report.messageId]);
      if (pending.rows[0].n === 0) {
        await this.#finish(c, report.messageId, lastReply, now);
      } else {
        await c.query(SQL.rescheduleMessage, [
          lastReply,
          report.nextAttemptAt,
          report.mailbox ?? null,
          report.messageId,
        ]);
      }
    });
  }

  async #finish(c: PoolClient, id: string, lastReply: string | null, now: number): Promise<void> {
    await c.query(SQL.finishMessage, [lastReply, now, id]);
    // Nothing left to send: the bytes are no longer needed (history and envelope stay).
    await c.query(SQL.deleteBody, [id]);
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    await this.#pool.query(SQL.releaseLease, [id, owner]);
  }

  async throttle(id: string, owner: string, until: number, reason: string, mailbox: string): Promise<void> {
    await this.#tx(async (c) => {
      const before = await c.query(SQL.lockThrottle, [id, owner]);
      if (!before.rows[0]) return;
      await c.query(SQL.throttleMessage, [until, reason, mailbox, id]);
      if (before.rows[0].throttle_reason !== reason)
        await c.query(SQL.insertTraceEvent, [Date.now(), id, 'Throttle', reason]);
    });
  }

  async setHeld(id: string, held: boolean): Promise<boolean> {
    const r = await this.#pool.query(SQL.setHeld, [held, id]);
    if (r.rowCount)
      await this.#trace.recordEvent(id, Date.now(), held ? 'Held' : 'Released', 'by an operator');
    return (r.rowCount ?? 0) > 0;
  }

  async failPending(id: string, reply: string, now: number): Promise<Recipient[]> {
    return this.#tx(async (c) => {
      const m = await c.query(SQL.lockMessage, [id]);
      const row = m.rows[0];
      if (!row || row.state !== 'active' || (row.lease_until !== null && row.lease_until >= now)) return [];
      const pending = await c.query(SQL.pendingRecipients, [id]);
      for (const r of pending.rows) {
        await c.query(SQL.insertOperatorAttempt, [id, r.id, now, reply]);
        await c.query(SQL.failRecipient, [reply, now, r.id]);
      }
      await this.#finish(c, id, reply, now);
      return pending.rows.map((r) =>
        toRecipient({ ...r, state: 'failed', last_reply: reply, attempts: (r.attempts as number) + 1 }),
      );
    });
  }

  async markDelayNotified(id: string): Promise<boolean> {
    const r = await this.#pool.query(SQL.markDelayNotified, [id]);
    return (r.rowCount ?? 0) > 0;
  }

  async findDuplicate(key: string, since: number): Promise<string | null> {
    const { rows } = await this.#pool.query(SQL.findDuplicate, [key, since]);
    return (rows[0]?.id as string | undefined) ?? null;
  }

  async nextDueAt(): Promise<number | null> {
    const { rows } = await this.#pool.query(SQL.nextDueAt);
    return (rows[0]?.t as number | null) ?? null;
  }

  async get(id: string): Promise<MessageDetail | null> {
    const { rows } = await this.#pool.query(SQL.getMessage, [id]);
    if (!rows[0]) return null;
    const [message] = await this.#withRecipients(rows);
    const history = await this.#pool.query(SQL.messageAttempts, [id]);
    return {
      ...message!,
      history: history.rows.map((a): Attempt => ({
        id: a.id,
        recipientId: a.recipient_id,
        startedAt: a.started_at,
        durationMs: a.duration_ms,
        transport: a.transport,
        upstream: a.upstream,
        outcome: a.outcome,
        reply: a.reply,
        category: a.category,
      })),
    };
  }

  async list(filter: ListFilter = {}): Promise<QueuedMessage[]> {
    const domain = filter.recipientDomain
      ? `%@${filter.recipientDomain.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}`
      : null;
    const { rows } = await this.#pool.query(SQL.listMessages, [
      filter.state ?? null,
      filter.route ?? null,
      filter.sender ?? null,
      domain,
      filter.held ?? null,
      filter.throttled ?? null,
      filter.limit ?? 100,
      filter.offset ?? 0,
    ]);
    return this.#withRecipients(rows);
  }

  async retryNow(id: string, now: number): Promise<boolean> {
    const r = await this.#pool.query(SQL.retryNow, [now, id]);
    return (r.rowCount ?? 0) > 0;
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.#pool.query(SQL.deleteMessage, [id]);
    return (r.rowCount ?? 0) > 0;
  }

  async stats(): Promise<QueueStats> {
    const q = (sql: string) => this.#pool.query(sql);
    const [counts, rcpts, routes, mailboxes, held] = await Promise.all([
      q(SQL.statsStates),
      q(SQL.statsRecipients),
      q(SQL.statsRoutes),
      q(SQL.statsMailboxes),
      q(SQL.statsHeld),
    ]);
    const recipients: Record<RecipientState, number> = { queued: 0, deferred: 0, delivered: 0, failed: 0 };
    for (const r of rcpts.rows) recipients[r.state as RecipientState] = r.n;
    const byRoute: QueueStats['byRoute'] = {};
    let oldestActiveAt: number | null = null;
    for (const r of routes.rows) {
      byRoute[r.route] = { active: r.n, oldestActiveAt: r.oldest };
      oldestActiveAt = oldestActiveAt === null ? r.oldest : Math.min(oldestActiveAt, r.oldest);
    }
    const byMailbox: QueueStats['byMailbox'] = {};
    for (const m of mailboxes.rows)
      byMailbox[m.mailbox] = { active: m.n, throttled: m.throttled, oldestActiveAt: m.oldest };
    return {
      active: counts.rows.find((c) => c.state === 'active')?.n ?? 0,
      done: counts.rows.find((c) => c.state === 'done')?.n ?? 0,
      recipients,
      oldestActiveAt,
      byRoute,
      byMailbox,
      held: held.rows[0].n,
    };
  }

  ledger(): PostgresLedger {
    return this.#ledger;
  }

  async purgeDone(before: number): Promise<number> {
    const r = await this.#pool.query(SQL.purgeDone, [before]);
    await this.#trace.purge(before);
    return r.rowCount ?? 0;
  }

  recordEvent(messageId: string, at: number, event: string, detail: string): Promise<void> {
    return this.#trace.recordEvent(messageId, at, event, detail);
  }

  recordRefusal(refusal: Refusal): Promise<void> {
    return this.#trace.recordRefusal(refusal);
  }

  trace(query: TraceQuery): Promise<TraceRow[]> {
    return this.#trace.trace(query);
  }

  traceMessage(id: string): Promise<TraceEvent[] | null> {
    return this.#trace.traceMessage(id);
  }

  refusals(query: { ip?: string; since?: number; limit?: number; offset?: number }): Promise<Refusal[]> {
    return this.#trace.refusals(query);
  }

  /**
   * LISTEN on a connection of its own. When that connection is lost (the database restarted,
   * a failover), it is dropped and opened again with a growing pause, and `onNew` is called
   * once it is back, so nothing queued while it was away waits for the next poll.
   */
  async subscribe(onNew: () => void): Promise<() => Promise<void>> {
    let done = false;
    let client: PoolClient | null = null;
    let retry: NodeJS.Timeout | null = null;
    let pauseMs = RESUBSCRIBE_MIN_MS;
    const handler = (msg: { channel: string }) => {
      if (msg.channel === CHANNEL) onNew();
    };
    /** Lets a broken connection go: the pool must not hand it out again. */
    const drop = (c: PoolClient) => {
      if (client !== c) return;
      client = null;
      c.off('notification', handler);
      c.release(true);
    };
    const retryLater = () => {
      if (done || retry) return;
      retry = setTimeout(() => void listen().then(onNew, retryLater), pauseMs);
      retry.unref();
      pauseMs = Math.min(pauseMs * 2, RESUBSCRIBE_MAX_MS);
    };
    const listen = async () => {
      retry = null;
      const c = await this.#pool.connect();
      client = c;
      c.on('notification', handler);
      const lost = () => {
        drop(c);
        retryLater();
      };
      c.on('error', lost);
      c.on('end', lost);
      try {
        await c.query(SQL.listenQueued);
      } catch (err) {
        drop(c);
        throw err;
      }
      pauseMs = RESUBSCRIBE_MIN_MS;
    };
    await listen();
    const unsubscribe = async () => {
      if (done) return;
      done = true;
      this.#subscriptions.delete(unsubscribe);
      if (retry) clearTimeout(retry);
      const c = client;
      client = null;
      if (!c) return;
      c.off('notification', handler);
      await c.query(SQL.unlistenQueued).catch(() => undefined);
      c.release();
    };
    this.#subscriptions.add(unsubscribe);
    return unsubscribe;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // A listening connection is checked out of the pool; the pool ends only once it is back.
    await Promise.all([...this.#subscriptions].map((u) => u()));
    await this.#pool.end();
  }

  async #withRecipients(rows: Row[]): Promise<QueuedMessage[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id as string);
    const { rows: rr } = await this.#pool.query(SQL.recipientsOf, [ids]);
    const by = new Map<string, Recipient[]>();
    for (const r of rr) {
      const list = by.get(r.message_id as string) ?? [];
      list.push(toRecipient(r));
      by.set(r.message_id as string, list);
    }
    return rows.map((row) => toMessage(row, by.get(row.id as string) ?? []));
  }
}

function toRecipient(r: Row): Recipient {
  return {
    id: r.id as number,
    address: r.address as string,
    notify: r.notify ? (r.notify as string).split(',') : null,
    orcpt: r.orcpt as string | null,
    state: r.state as RecipientState,
    attempts: r.attempts as number,
    lastReply: r.last_reply as string | null,
    updatedAt: r.updated_at as number,
  };
}

function toMessage(row: Row, recipients: Recipient[]): QueuedMessage {
  return {
    id: row.id as string,
    receivedAt: row.received_at as number,
    mailFrom: row.mail_from as string,
    dsn: { ret: row.dsn_ret as 'FULL' | 'HDRS' | null, envid: row.dsn_envid as string | null },
    smtputf8: row.smtputf8 as boolean,
    bodyType: row.body_type as '7bit' | '8bitmime',
    client: row.client_json as QueuedMessage['client'],
    route: row.route as string,
    messageIdHeader: row.message_id_header as string | null,
    size: row.size as number,
    state: row.state as QueuedMessage['state'],
    attempts: row.attempts as number,
    nextAttemptAt: row.next_attempt_at as number,
    expiresAt: row.expires_at as number,
    lastReply: row.last_reply as string | null,
    recipients,
    held: row.held as boolean,
    throttleReason: row.throttle_reason as string | null,
    mailbox: row.mailbox as string | null,
  };
}
