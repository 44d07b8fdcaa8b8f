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
      if (options.recoverLeases)
        await pool.query(
          'UPDATE messages SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL',
        );
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
      await this.#tx(async (c) => {
        await c.query(
          `INSERT INTO messages (id, received_at, mail_from, dsn_ret, dsn_envid, smtputf8, body_type, client_json, route,
             message_id_header, size, state, next_attempt_at, expires_at, dedup_key)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active', $2, $12, $13)`,
          [
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
          ],
        );
        await c.query('INSERT INTO bodies (message_id, data) VALUES ($1, $2)', [m.id, m.body]);
        // Delivered to listeners on every node when this transaction commits.
        await c.query(`SELECT pg_notify('${CHANNEL}', $1)`, [m.route]);
        await c.query(
          `INSERT INTO recipients (message_id, address, notify, orcpt, state, updated_at)
           SELECT $1, a, n, o, 'queued', $2 FROM unnest($3::text[], $4::text[], $5::text[]) AS t(a, n, o)`,
          [
            m.id,
            m.receivedAt,
            m.recipients.map((r) => r.address),
            m.recipients.map((r) => (r.notify ? r.notify.join(',') : null)),
            m.recipients.map((r) => r.orcpt),
          ],
        );
      });
    } catch (err) {
      throw new RelayError('ERELAY_STORE_UNAVAILABLE', `queue write failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async claimDue(owner: string, o: ClaimOptions): Promise<ClaimedMessage[]> {
    const routes = o.routes ? 'AND route = ANY($5::text[])' : '';
    const { rows } = await this.#pool.query(
      `UPDATE messages SET lease_owner = $1, lease_until = $2
       WHERE id IN (SELECT id FROM messages
                    WHERE state = 'active' AND NOT held AND next_attempt_at <= $3
                      AND (lease_until IS NULL OR lease_until < $3) ${routes}
                    ORDER BY next_attempt_at, received_at LIMIT $4
                    FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      o.routes
        ? [owner, o.now + o.leaseMs, o.now, o.limit, o.routes]
        : [owner, o.now + o.leaseMs, o.now, o.limit],
    );
    const messages = await this.#withRecipients(rows);
    return messages
      .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.receivedAt - b.receivedAt)
      .map((m) => ({ ...m, leaseOwner: owner, leaseUntil: o.now + o.leaseMs }));
  }

  async readBody(id: string): Promise<Buffer> {
    const { rows } = await this.#pool.query('SELECT data FROM bodies WHERE message_id = $1', [id]);
    if (!rows[0]) throw new RelayError('ERELAY_MESSAGE_NOT_FOUND', `no body stored for message ${id}`);
    return rows[0].data as Buffer;
  }

  async recordAttempt(report: AttemptReport): Promise<void> {
    await this.#tx(async (c) => {
      const lease = await c.query('SELECT lease_owner FROM messages WHERE id = $1 FOR UPDATE', [
        report.messageId,
      ]);
      // A node whose lease expired and was taken over must not overwrite the new owner's work.
      if (!lease.rows[0] || lease.rows[0].lease_owner !== report.owner) return;
      const now = report.startedAt + report.durationMs;
      for (const r of report.results) {
        await c.query(
          `INSERT INTO attempts (message_id, recipient_id, started_at, duration_ms, transport, upstream, outcome, reply, category)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [
            report.messageId,
            r.recipientId,
            report.startedAt,
            report.durationMs,
            report.transport,
            report.upstream,
            r.outcome,
            r.reply,
            r.category,
          ],
        );
        await c.query(
          'UPDATE recipients SET state = $1, attempts = attempts + 1, last_reply = $2, updated_at = $3 WHERE id = $4 AND message_id = $5',
          [r.outcome, r.reply, now, r.recipientId, report.messageId],
        );
      }
      const lastReply = report.results.at(-1)?.reply ?? null;
      const pending = await c.query(
        `SELECT count(*)::int AS n FROM recipients WHERE message_id = $1 AND state IN ('queued', 'deferred')`,
        [report.messageId],
      );
      if (pending.rows[0].n === 0) {
        await this.#finish(c, report.messageId, lastReply, now);
      } else {
        await c.query(
          `UPDATE messages SET attempts = attempts + 1, last_reply = $1, next_attempt_at = $2, lease_owner = NULL,
             lease_until = NULL, throttle_reason = NULL, mailbox = coalesce($3, mailbox) WHERE id = $4`,
          [lastReply, report.nextAttemptAt, report.mailbox ?? null, report.messageId],
        );
      }
    });
  }

  async #finish(c: PoolClient, id: string, lastReply: string | null, now: number): Promise<void> {
    await c.query(
      `UPDATE messages SET state = 'done', attempts = attempts + 1, last_reply = $1, lease_owner = NULL, lease_until = NULL,
         finished_at = $2, throttle_reason = NULL, held = false WHERE id = $3`,
      [lastReply, now, id],
    );
    // Nothing left to send: the bytes are no longer needed (history and envelope stay).
    await c.query('DELETE FROM bodies WHERE message_id = $1', [id]);
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    await this.#pool.query(
      'UPDATE messages SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2',
      [id, owner],
    );
  }

  async throttle(id: string, owner: string, until: number, reason: string, mailbox: string): Promise<void> {
    await this.#tx(async (c) => {
      const before = await c.query(
        'SELECT throttle_reason FROM messages WHERE id = $1 AND lease_owner = $2 FOR UPDATE',
        [id, owner],
      );
      if (!before.rows[0]) return;
      await c.query(
        `UPDATE messages SET next_attempt_at = $1, throttle_reason = $2, mailbox = $3, lease_owner = NULL, lease_until = NULL WHERE id = $4`,
        [until, reason, mailbox, id],
      );
      if (before.rows[0].throttle_reason !== reason)
        await c.query('INSERT INTO trace_events (at, message_id, event, detail) VALUES ($1, $2, $3, $4)', [
          Date.now(),
          id,
          'Throttle',
          reason,
        ]);
    });
  }

  async setHeld(id: string, held: boolean): Promise<boolean> {
    const r = await this.#pool.query(`UPDATE messages SET held = $1 WHERE id = $2 AND state = 'active'`, [
      held,
      id,
    ]);
    if (r.rowCount)
      await this.#trace.recordEvent(id, Date.now(), held ? 'Held' : 'Released', 'by an operator');
    return (r.rowCount ?? 0) > 0;
  }

  async failPending(id: string, reply: string, now: number): Promise<Recipient[]> {
    return this.#tx(async (c) => {
      const m = await c.query('SELECT state, lease_until FROM messages WHERE id = $1 FOR UPDATE', [id]);
      const row = m.rows[0];
      if (!row || row.state !== 'active' || (row.lease_until !== null && row.lease_until >= now)) return [];
      const pending = await c.query(
        `SELECT * FROM recipients WHERE message_id = $1 AND state IN ('queued', 'deferred') ORDER BY id`,
        [id],
      );
      for (const r of pending.rows) {
        await c.query(
          `INSERT INTO attempts (message_id, recipient_id, started_at, duration_ms, transport, upstream, outcome, reply, category)
           VALUES ($1, $2, $3, 0, 'operator', NULL, 'failed', $4, 'operator')`,
          [id, r.id, now, reply],
        );
        await c.query(
          `UPDATE recipients SET state = 'failed', attempts = attempts + 1, last_reply = $1, updated_at = $2 WHERE id = $3`,
          [reply, now, r.id],
        );
      }
      await this.#finish(c, id, reply, now);
      return pending.rows.map((r) =>
        toRecipient({ ...r, state: 'failed', last_reply: reply, attempts: (r.attempts as number) + 1 }),
      );
    });
  }

  async markDelayNotified(id: string): Promise<boolean> {
    const r = await this.#pool.query(
      'UPDATE messages SET delay_notified = true WHERE id = $1 AND NOT delay_notified',
      [id],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async findDuplicate(key: string, since: number): Promise<string | null> {
    const { rows } = await this.#pool.query(
      'SELECT id FROM messages WHERE dedup_key = $1 AND received_at >= $2 ORDER BY received_at DESC LIMIT 1',
      [key, since],
    );
    return (rows[0]?.id as string | undefined) ?? null;
  }

  async nextDueAt(): Promise<number | null> {
    const { rows } = await this.#pool.query(
      `SELECT min(next_attempt_at) AS t FROM messages WHERE state = 'active' AND NOT held`,
    );
    return (rows[0]?.t as number | null) ?? null;
  }

  async get(id: string): Promise<MessageDetail | null> {
    const { rows } = await this.#pool.query('SELECT * FROM messages WHERE id = $1', [id]);
    if (!rows[0]) return null;
    const [message] = await this.#withRecipients(rows);
    const history = await this.#pool.query('SELECT * FROM attempts WHERE message_id = $1 ORDER BY id', [id]);
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
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (filter.state) add('state = ?', filter.state);
    if (filter.route) add('route = ?', filter.route);
    if (filter.sender !== undefined) add('lower(mail_from) = lower(?)', filter.sender);
    if (filter.recipientDomain)
      add(
        `id IN (SELECT message_id FROM recipients WHERE lower(address) LIKE ? ESCAPE '\\')`,
        `%@${filter.recipientDomain.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}`,
      );
    if (filter.held !== undefined) add('held = ?', filter.held);
    if (filter.throttled !== undefined)
      where.push(filter.throttled ? 'throttle_reason IS NOT NULL' : 'throttle_reason IS NULL');
    params.push(filter.limit ?? 100, filter.offset ?? 0);
    const { rows } = await this.#pool.query(
      `SELECT * FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY received_at DESC, id DESC LIMIT $${params.length - 1} OFFSET $${params.length}`,
      params,
    );
    return this.#withRecipients(rows);
  }

  async retryNow(id: string, now: number): Promise<boolean> {
    const r = await this.#pool.query(
      `UPDATE messages SET next_attempt_at = $1 WHERE id = $2 AND state = 'active'`,
      [now, id],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.#pool.query('DELETE FROM messages WHERE id = $1', [id]);
    return (r.rowCount ?? 0) > 0;
  }

  async stats(): Promise<QueueStats> {
    const [counts, rcpts, routes, mailboxes, held] = await Promise.all([
      this.#pool.query('SELECT state, count(*)::int AS n FROM messages GROUP BY state'),
      this.#pool.query('SELECT state, count(*)::int AS n FROM recipients GROUP BY state'),
      this.#pool.query(
        `SELECT route, count(*)::int AS n, min(received_at) AS oldest FROM messages WHERE state = 'active' GROUP BY route`,
      ),
      this.#pool.query(
        `SELECT mailbox, count(*)::int AS n, count(throttle_reason)::int AS throttled, min(received_at) AS oldest
         FROM messages WHERE state = 'active' AND mailbox IS NOT NULL GROUP BY mailbox`,
      ),
      this.#pool.query(`SELECT count(*)::int AS n FROM messages WHERE state = 'active' AND held`),
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
    const r = await this.#pool.query(`DELETE FROM messages WHERE state = 'done' AND finished_at < $1`, [
      before,
    ]);
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
    const lost = (c: PoolClient) => {
      if (client !== c) return;
      client = null;
      c.off('notification', handler);
      c.release(true); // broken: the pool must not hand it out again
      if (done) return;
      retry = setTimeout(() => void listen().then(onNew, () => undefined), pauseMs);
      retry.unref();
      pauseMs = Math.min(pauseMs * 2, RESUBSCRIBE_MAX_MS);
    };
    const listen = async () => {
      retry = null;
      let c: PoolClient;
      try {
        c = await this.#pool.connect();
      } catch (err) {
        if (!done) {
          retry = setTimeout(() => void listen().then(onNew, () => undefined), pauseMs);
          retry.unref();
          pauseMs = Math.min(pauseMs * 2, RESUBSCRIBE_MAX_MS);
        }
        throw err;
      }
      client = c;
      c.on('notification', handler);
      c.on('error', () => lost(c));
      c.on('end', () => lost(c));
      await c.query(`LISTEN ${CHANNEL}`);
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
      await c.query(`UNLISTEN ${CHANNEL}`).catch(() => undefined);
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
    const { rows: rr } = await this.#pool.query(
      'SELECT * FROM recipients WHERE message_id = ANY($1::text[]) ORDER BY id',
      [ids],
    );
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
