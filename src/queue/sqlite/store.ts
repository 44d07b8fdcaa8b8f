import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

import Database, { type Database as Db, type Statement } from 'better-sqlite3';

import { RelayError } from '../../errors.ts';
import { type BudgetLedger, MemoryLedger } from '../../scheduler/ledger.ts';
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
import { migrate } from './migrate.ts';
import { SqliteTrace } from './trace.ts';

export interface SqliteStoreOptions {
  path: string;
  /** Largest database size in bytes; writes beyond it fail with SQLITE_FULL (the relay answers 452 4.3.1). */
  maxSizeBytes?: number;
  /**
   * The relay process owns its SQLite spool alone (main.ts holds a lock file), so leases found
   * at start-up belong to a process that died: they are released at once instead of waiting
   * for them to expire. Tools that open the spool beside a running relay (the queue CLI) pass false.
   */
  recoverLeases?: boolean;
  /**
   * Whether this connection runs WAL checkpoints (copying the WAL into the database file, with
   * an fsync) when its commits grow the WAL. The relay turns it off on the connection that
   * accepts mail, so that work lands on the delivery thread and never delays a 250.
   */
  checkpoint?: boolean;
}

interface MessageRow {
  id: string;
  received_at: number;
  mail_from: string;
  dsn_ret: 'FULL' | 'HDRS' | null;
  dsn_envid: string | null;
  smtputf8: number;
  body_type: '7bit' | '8bitmime';
  client_json: string;
  route: string;
  message_id_header: string | null;
  size: number;
  state: 'active' | 'done';
  attempts: number;
  next_attempt_at: number;
  expires_at: number;
  last_reply: string | null;
  lease_owner: string | null;
  lease_until: number | null;
  held: number;
  throttle_reason: string | null;
  mailbox: string | null;
}

interface RecipientRow {
  id: number;
  message_id: string;
  address: string;
  notify: string | null;
  orcpt: string | null;
  state: RecipientState;
  attempts: number;
  last_reply: string | null;
  updated_at: number;
}

interface PendingWrite {
  message: NewMessage;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * The default, single-node store: one SQLite file in WAL mode with synchronous=FULL, so a
 * commit returns only after the WAL is fsynced. Concurrent enqueues that arrive in the same
 * event-loop turn share one transaction (group commit): one fsync acknowledges them all.
 */
export class SqliteQueueStore implements QueueStore {
  readonly #db: Db;
  readonly #trace: SqliteTrace;
  /** One node: budgets live in this process (each thread counts the keys it uses). */
  readonly #ledger = new MemoryLedger();
  readonly #pending: PendingWrite[] = [];
  #flushScheduled = false;
  #closed = false;
  readonly #s: Record<string, Statement>;

  private constructor(db: Db) {
    this.#trace = new SqliteTrace(db);
    this.#db = db;
    this.#s = {
      insertMessage: db.prepare(
        `INSERT INTO messages (id, received_at, mail_from, dsn_ret, dsn_envid, smtputf8, body_type, client_json, route,
           message_id_header, size, state, next_attempt_at, expires_at, dedup_key)
         VALUES (@id, @receivedAt, @mailFrom, @dsnRet, @dsnEnvid, @smtputf8, @bodyType, @client, @route,
           @messageIdHeader, @size, 'active', @receivedAt, @expiresAt, @dedupKey)`,
      ),
      insertBody: db.prepare('INSERT INTO bodies (message_id, data) VALUES (?, ?)'),
      insertRecipient: db.prepare(
        `INSERT INTO recipients (message_id, address, notify, orcpt, state, updated_at) VALUES (?, ?, ?, ?, 'queued', ?)`,
      ),
      claim: db.prepare(
        `UPDATE messages SET lease_owner = @owner, lease_until = @leaseUntil
         WHERE id IN (SELECT id FROM messages
                      WHERE state = 'active' AND held = 0 AND next_attempt_at <= @now AND (lease_until IS NULL OR lease_until < @now)
                      ORDER BY next_attempt_at, received_at LIMIT @limit)
         RETURNING *`,
      ),
      claimRoutes: db.prepare(
        `UPDATE messages SET lease_owner = @owner, lease_until = @leaseUntil
         WHERE id IN (SELECT id FROM messages
                      WHERE state = 'active' AND held = 0 AND next_attempt_at <= @now AND (lease_until IS NULL OR lease_until < @now)
                        AND route IN (SELECT value FROM json_each(@routes))
                      ORDER BY next_attempt_at, received_at LIMIT @limit)
         RETURNING *`,
      ),
      recipientsOf: db.prepare('SELECT * FROM recipients WHERE message_id = ? ORDER BY id'),
      body: db.prepare('SELECT data FROM bodies WHERE message_id = ?'),
      leaseOf: db.prepare('SELECT lease_owner, attempts FROM messages WHERE id = ?'),
      insertAttempt: db.prepare(
        `INSERT INTO attempts (message_id, recipient_id, started_at, duration_ms, transport, upstream, outcome, reply, category)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      updateRecipient: db.prepare(
        `UPDATE recipients SET state = ?, attempts = attempts + 1, last_reply = ?, updated_at = ? WHERE id = ? AND message_id = ?`,
      ),
      pendingCount: db.prepare(
        `SELECT count(*) AS n FROM recipients WHERE message_id = ? AND state IN ('queued', 'deferred')`,
      ),
      finishMessage: db.prepare(
        `UPDATE messages SET state = 'done', attempts = attempts + 1, last_reply = ?, lease_owner = NULL, lease_until = NULL,
           finished_at = ?, throttle_reason = NULL, held = 0 WHERE id = ?`,
      ),
      deleteBody: db.prepare('DELETE FROM bodies WHERE message_id = ?'),
      rescheduleMessage: db.prepare(
        `UPDATE messages SET attempts = attempts + 1, last_reply = ?, next_attempt_at = ?, lease_owner = NULL,
           lease_until = NULL, throttle_reason = NULL, mailbox = coalesce(?, mailbox) WHERE id = ?`,
      ),
      throttle: db.prepare(
        `UPDATE messages SET next_attempt_at = ?, throttle_reason = ?, mailbox = ?, lease_owner = NULL, lease_until = NULL
         WHERE id = ? AND lease_owner = ?`,
      ),
      setHeld: db.prepare(`UPDATE messages SET held = ? WHERE id = ? AND state = 'active'`),
      findDuplicate: db.prepare(
        `SELECT id FROM messages WHERE dedup_key = ? AND received_at >= ? ORDER BY received_at DESC LIMIT 1`,
      ),
      delayNotified: db.prepare(`UPDATE messages SET delay_notified = 1 WHERE id = ? AND delay_notified = 0`),
      release: db.prepare(
        'UPDATE messages SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?',
      ),
      nextDue: db.prepare(
        `SELECT min(next_attempt_at) AS t FROM messages WHERE state = 'active' AND held = 0`,
      ),
      get: db.prepare('SELECT * FROM messages WHERE id = ?'),
      history: db.prepare('SELECT * FROM attempts WHERE message_id = ? ORDER BY id'),
      retryNow: db.prepare(`UPDATE messages SET next_attempt_at = ? WHERE id = ? AND state = 'active'`),
      delete: db.prepare('DELETE FROM messages WHERE id = ?'),
      purge: db.prepare(`DELETE FROM messages WHERE state = 'done' AND finished_at < ?`),
    };
  }

  /** Opens (creating if needed) and migrates the database. */
  static open(options: SqliteStoreOptions): SqliteQueueStore {
    let db: Db;
    try {
      mkdirSync(dirname(options.path), { recursive: true });
      db = new Database(options.path);
      db.pragma('journal_mode = WAL');
      // NORMAL between enqueues: claims and attempt records need no fsync of their own (a lost
      // claim is re-claimed, a lost attempt record means one more attempt). Enqueue batches
      // switch to FULL, whose fsync of the append-only WAL also covers every earlier commit.
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
    } catch (cause) {
      throw new RelayError(
        'ERELAY_STORE_UNAVAILABLE',
        `cannot open queue database ${options.path}: ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
    migrate(db);
    if (options.checkpoint === false) db.pragma('wal_autocheckpoint = 0');
    if (options.recoverLeases)
      db.prepare(
        'UPDATE messages SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL',
      ).run();
    if (options.maxSizeBytes) {
      const pageSize = db.pragma('page_size', { simple: true }) as number;
      db.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxSizeBytes / pageSize))}`);
    }
    return new SqliteQueueStore(db);
  }

  enqueue(message: NewMessage): Promise<void> {
    if (this.#closed)
      return Promise.reject(new RelayError('ERELAY_STORE_UNAVAILABLE', 'the queue store is closed'));
    return new Promise((resolve, reject) => {
      this.#pending.push({ message, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        // setImmediate lets every DATA that finished in this turn join the same commit.
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#pending.splice(0);
    if (batch.length === 0) return;
    // FULL for this commit: it returns only after the WAL is fsynced, so a resolved enqueue
    // (and the 250 that follows it) survives a crash or power loss.
    try {
      this.#db.pragma('synchronous = FULL');
      this.#db
        .transaction(() => {
          for (const { message } of batch) this.#insert(message);
        })
        .immediate();
    } catch (err) {
      // One bad message must not fail its neighbours: retry them one by one.
      if (batch.length > 1) {
        for (const item of batch) {
          try {
            this.#db.transaction(() => this.#insert(item.message)).immediate();
            item.resolve();
          } catch (e) {
            item.reject(wrapStoreError(e));
          }
        }
        return;
      }
      batch[0]!.reject(wrapStoreError(err));
      return;
    } finally {
      this.#syncNormal();
    }
    for (const item of batch) item.resolve();
  }

  #syncNormal(): void {
    try {
      this.#db.pragma('synchronous = NORMAL');
    } catch {
      // A closed or broken database fails the next statement anyway.
    }
  }

  #insert(m: NewMessage): void {
    this.#s.insertMessage!.run({
      id: m.id,
      receivedAt: m.receivedAt,
      mailFrom: m.mailFrom,
      dsnRet: m.dsn.ret,
      dsnEnvid: m.dsn.envid,
      smtputf8: m.smtputf8 ? 1 : 0,
      bodyType: m.bodyType,
      client: JSON.stringify(m.client),
      route: m.route,
      messageIdHeader: m.messageIdHeader,
      size: m.body.length,
      expiresAt: m.expiresAt,
      dedupKey: m.dedupKey ?? null,
    });
    this.#s.insertBody!.run(m.id, m.body);
    for (const r of m.recipients) {
      this.#s.insertRecipient!.run(
        m.id,
        r.address,
        r.notify ? r.notify.join(',') : null,
        r.orcpt,
        m.receivedAt,
      );
    }
  }

  async claimDue(owner: string, options: ClaimOptions): Promise<ClaimedMessage[]> {
    const params = {
      owner,
      leaseUntil: options.now + options.leaseMs,
      now: options.now,
      limit: options.limit,
    };
    const rows = (
      options.routes
        ? this.#s.claimRoutes!.all({ ...params, routes: JSON.stringify(options.routes) })
        : this.#s.claim!.all(params)
    ) as MessageRow[];
    return rows.map((row) => ({
      ...this.#toMessage(row),
      leaseOwner: row.lease_owner!,
      leaseUntil: row.lease_until!,
    }));
  }

  async readBody(id: string): Promise<Buffer> {
    const row = this.#s.body!.get(id) as { data: Buffer } | undefined;
    if (!row) throw new RelayError('ERELAY_MESSAGE_NOT_FOUND', `no body stored for message ${id}`);
    return row.data;
  }

  async recordAttempt(report: AttemptReport): Promise<void> {
    // IMMEDIATE: take the write lock up front. A deferred transaction that reads first and then
    // writes gets SQLITE_BUSY at once when the other thread writes, without waiting.
    this.#db
      .transaction(() => {
        const lease = this.#s.leaseOf!.get(report.messageId) as { lease_owner: string | null } | undefined;
        // A worker whose lease expired and was taken over must not overwrite the new owner's work.
        if (!lease || lease.lease_owner !== report.owner) return;
        const now = report.startedAt + report.durationMs;
        for (const r of report.results) {
          this.#s.insertAttempt!.run(
            report.messageId,
            r.recipientId,
            report.startedAt,
            report.durationMs,
            report.transport,
            report.upstream,
            r.outcome,
            r.reply,
            r.category,
          );
          const state: RecipientState = r.outcome;
          this.#s.updateRecipient!.run(state, r.reply, now, r.recipientId, report.messageId);
        }
        const lastReply = report.results.at(-1)?.reply ?? null;
        const { n } = this.#s.pendingCount!.get(report.messageId) as { n: number };
        if (n === 0) {
          this.#s.finishMessage!.run(lastReply, now, report.messageId);
          // Nothing left to send: the bytes are no longer needed (history and envelope stay).
          this.#s.deleteBody!.run(report.messageId);
        } else {
          this.#s.rescheduleMessage!.run(
            lastReply,
            report.nextAttemptAt,
            report.mailbox ?? null,
            report.messageId,
          );
        }
      })
      .immediate();
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    this.#s.release!.run(id, owner);
  }

  async throttle(id: string, owner: string, until: number, reason: string, mailbox: string): Promise<void> {
    this.#db
      .transaction(() => {
        const before = this.#s.get!.get(id) as MessageRow | undefined;
        if (this.#s.throttle!.run(until, reason, mailbox, id, owner).changes === 0) return;
        // One trace event when a message starts waiting (or waits for something else), not one per check.
        if (before?.throttle_reason !== reason) this.#trace.recordEvent(id, Date.now(), 'Throttle', reason);
      })
      .immediate();
  }

  async recordEvent(messageId: string, at: number, event: string, detail: string): Promise<void> {
    this.#trace.recordEvent(messageId, at, event, detail);
  }

  async recordRefusal(refusal: Refusal): Promise<void> {
    this.#trace.recordRefusal(refusal);
  }

  async trace(query: TraceQuery): Promise<TraceRow[]> {
    return this.#trace.trace(query);
  }

  async traceMessage(id: string): Promise<TraceEvent[] | null> {
    return this.#trace.traceMessage(id);
  }

  async refusals(query: {
    ip?: string;
    since?: number;
    limit?: number;
    offset?: number;
  }): Promise<Refusal[]> {
    return this.#trace.refusals(query);
  }

  async findDuplicate(key: string, since: number): Promise<string | null> {
    return (this.#s.findDuplicate!.get(key, since) as { id: string } | undefined)?.id ?? null;
  }

  async markDelayNotified(id: string): Promise<boolean> {
    return this.#s.delayNotified!.run(id).changes > 0;
  }

  async setHeld(id: string, held: boolean): Promise<boolean> {
    const changed = this.#s.setHeld!.run(held ? 1 : 0, id).changes > 0;
    if (changed) this.#trace.recordEvent(id, Date.now(), held ? 'Held' : 'Released', 'by an operator');
    return changed;
  }

  async failPending(id: string, reply: string, now: number): Promise<Recipient[]> {
    return this.#db
      .transaction(() => {
        const row = this.#s.get!.get(id) as MessageRow | undefined;
        if (!row || row.state !== 'active' || (row.lease_until !== null && row.lease_until >= now)) return [];
        const pending = (this.#s.recipientsOf!.all(id) as RecipientRow[]).filter(
          (r) => r.state === 'queued' || r.state === 'deferred',
        );
        for (const r of pending) {
          this.#s.insertAttempt!.run(id, r.id, now, 0, 'operator', null, 'failed', reply, 'operator');
          this.#s.updateRecipient!.run('failed', reply, now, r.id, id);
        }
        this.#s.finishMessage!.run(reply, now, id);
        this.#s.deleteBody!.run(id);
        return pending.map((r) =>
          this.#toRecipient({ ...r, state: 'failed', last_reply: reply, attempts: r.attempts + 1 }),
        );
      })
      .immediate();
  }

  async nextDueAt(): Promise<number | null> {
    return (this.#s.nextDue!.get() as { t: number | null }).t;
  }

  async get(id: string): Promise<MessageDetail | null> {
    const row = this.#s.get!.get(id) as MessageRow | undefined;
    if (!row) return null;
    const history = (this.#s.history!.all(id) as Record<string, unknown>[]).map((a): Attempt => ({
      id: a.id as number,
      recipientId: a.recipient_id as number,
      startedAt: a.started_at as number,
      durationMs: a.duration_ms as number,
      transport: a.transport as string,
      upstream: a.upstream as string | null,
      outcome: a.outcome as Attempt['outcome'],
      reply: a.reply as string,
      category: a.category as string,
    }));
    return { ...this.#toMessage(row), history };
  }

  async list(filter: ListFilter = {}): Promise<QueuedMessage[]> {
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: filter.limit ?? 100, offset: filter.offset ?? 0 };
    if (filter.state) {
      where.push('state = @state');
      params.state = filter.state;
    }
    if (filter.route) {
      where.push('route = @route');
      params.route = filter.route;
    }
    if (filter.sender !== undefined) {
      where.push('lower(mail_from) = lower(@sender)');
      params.sender = filter.sender;
    }
    if (filter.recipientDomain) {
      where.push(
        `id IN (SELECT message_id FROM recipients WHERE lower(address) LIKE @rcptDomain ESCAPE '\\')`,
      );
      params.rcptDomain = `%@${filter.recipientDomain.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}`;
    }
    if (filter.held !== undefined) {
      where.push('held = @held');
      params.held = filter.held ? 1 : 0;
    }
    if (filter.throttled !== undefined)
      where.push(filter.throttled ? 'throttle_reason IS NOT NULL' : 'throttle_reason IS NULL');
    const sql = `SELECT * FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                 ORDER BY received_at DESC, id DESC LIMIT @limit OFFSET @offset`;
    return (this.#db.prepare(sql).all(params) as MessageRow[]).map((row) => this.#toMessage(row));
  }

  async retryNow(id: string, now: number): Promise<boolean> {
    return this.#s.retryNow!.run(now, id).changes > 0;
  }

  async delete(id: string): Promise<boolean> {
    return this.#s.delete!.run(id).changes > 0;
  }

  async stats(): Promise<QueueStats> {
    const counts = this.#db.prepare('SELECT state, count(*) AS n FROM messages GROUP BY state').all() as {
      state: string;
      n: number;
    }[];
    const rcpts = this.#db.prepare('SELECT state, count(*) AS n FROM recipients GROUP BY state').all() as {
      state: RecipientState;
      n: number;
    }[];
    const routes = this.#db
      .prepare(
        `SELECT route, count(*) AS n, min(received_at) AS oldest FROM messages WHERE state = 'active' GROUP BY route`,
      )
      .all() as { route: string; n: number; oldest: number }[];
    const mailboxes = this.#db
      .prepare(
        `SELECT mailbox, count(*) AS n, sum(throttle_reason IS NOT NULL) AS throttled, min(received_at) AS oldest
         FROM messages WHERE state = 'active' AND mailbox IS NOT NULL GROUP BY mailbox`,
      )
      .all() as { mailbox: string; n: number; throttled: number; oldest: number }[];
    const byMailbox: QueueStats['byMailbox'] = {};
    for (const m of mailboxes)
      byMailbox[m.mailbox] = { active: m.n, throttled: m.throttled, oldestActiveAt: m.oldest };
    const held = (
      this.#db.prepare(`SELECT count(*) AS n FROM messages WHERE state = 'active' AND held = 1`).get() as {
        n: number;
      }
    ).n;
    const recipients: Record<RecipientState, number> = { queued: 0, deferred: 0, delivered: 0, failed: 0 };
    for (const r of rcpts) recipients[r.state] = r.n;
    const byRoute: QueueStats['byRoute'] = {};
    let oldestActiveAt: number | null = null;
    for (const r of routes) {
      byRoute[r.route] = { active: r.n, oldestActiveAt: r.oldest };
      oldestActiveAt = oldestActiveAt === null ? r.oldest : Math.min(oldestActiveAt, r.oldest);
    }
    return {
      active: counts.find((c) => c.state === 'active')?.n ?? 0,
      done: counts.find((c) => c.state === 'done')?.n ?? 0,
      recipients,
      oldestActiveAt,
      byRoute,
      byMailbox,
      held,
    };
  }

  ledger(): BudgetLedger {
    return this.#ledger;
  }

  async purgeDone(before: number): Promise<number> {
    const n = this.#s.purge!.run(before).changes;
    this.#trace.purge(before);
    return n;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    this.#db.close();
  }

  #toRecipient(r: RecipientRow): Recipient {
    return {
      id: r.id,
      address: r.address,
      notify: r.notify ? r.notify.split(',') : null,
      orcpt: r.orcpt,
      state: r.state,
      attempts: r.attempts,
      lastReply: r.last_reply,
      updatedAt: r.updated_at,
    };
  }

  #toMessage(row: MessageRow): QueuedMessage {
    const recipients = (this.#s.recipientsOf!.all(row.id) as RecipientRow[]).map((r) => this.#toRecipient(r));
    return {
      id: row.id,
      receivedAt: row.received_at,
      mailFrom: row.mail_from,
      dsn: { ret: row.dsn_ret, envid: row.dsn_envid },
      smtputf8: row.smtputf8 === 1,
      bodyType: row.body_type,
      client: JSON.parse(row.client_json) as QueuedMessage['client'],
      route: row.route,
      messageIdHeader: row.message_id_header,
      size: row.size,
      state: row.state,
      attempts: row.attempts,
      nextAttemptAt: row.next_attempt_at,
      expiresAt: row.expires_at,
      lastReply: row.last_reply,
      recipients,
      held: row.held === 1,
      throttleReason: row.throttle_reason,
      mailbox: row.mailbox,
    };
  }
}

/** SQLITE_FULL (database or disk full) is reported distinctly: the relay answers 452 4.3.1 for it. */
function wrapStoreError(err: unknown): RelayError {
  const code = (err as { code?: string }).code;
  const wrapped = new RelayError(
    'ERELAY_STORE_UNAVAILABLE',
    `queue write failed: ${(err as Error).message}`,
    { cause: err },
  );
  (wrapped as RelayError & { full?: boolean }).full = code === 'SQLITE_FULL';
  return wrapped;
}

export function isStoreFull(err: unknown): boolean {
  return (err as { full?: boolean }).full === true;
}
