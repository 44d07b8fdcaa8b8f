import type { Pool } from 'pg';

import type { ClientInfo, Refusal, TraceEvent, TraceQuery, TraceRow, TraceStatus } from '../store.ts';
import { likePattern, statusSql } from '../trace-sql.ts';
import * as SQL from './sql/index.ts';

/** The message trace over PostgreSQL; the same rows and events as the SQLite one (sqlite/trace.ts). */
export class PostgresTrace {
  readonly #pool: Pool;

  constructor(pool: Pool) {
    this.#pool = pool;
  }

  async recordEvent(messageId: string, at: number, event: string, detail: string): Promise<void> {
    await this.#pool.query(SQL.insertTraceEvent, [at, messageId, event, detail]);
  }

  async recordRefusal(r: Refusal): Promise<void> {
    await this.#pool.query(SQL.insertRefusal, [
      r.at,
      r.ip,
      r.listener,
      r.user,
      r.phase,
      r.sender,
      r.recipient,
      r.reply,
    ]);
  }

  async trace(q: TraceQuery): Promise<TraceRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replaceAll('?', `$${params.length}`));
    };
    if (q.sender !== undefined) add(`lower(m.mail_from) LIKE ? ESCAPE '\\'`, likePattern(q.sender));
    if (q.recipient !== undefined) add(`lower(r.address) LIKE ? ESCAPE '\\'`, likePattern(q.recipient));
    if (q.since !== undefined) add('m.received_at >= ?', q.since);
    if (q.until !== undefined) add('m.received_at < ?', q.until);
    if (q.messageId !== undefined)
      add('m.message_id_header = ?', q.messageId.startsWith('<') ? q.messageId : `<${q.messageId}>`);
    if (q.clientIp !== undefined) add(`m.client_json->>'ip' = ?`, q.clientIp);
    if (q.device !== undefined) add(`(m.client_json->>'rule' = ? OR m.client_json->>'user' = ?)`, q.device);
    if (q.status !== undefined) add(`(${STATUS_SQL}) = ?`, q.status);
    params.push(Math.min(q.limit ?? 100, 10_000), q.offset ?? 0);
    const { rows } = await this.#pool.query(
      `SELECT m.id, m.received_at, m.mail_from, m.message_id_header, m.size, m.route, m.client_json,
              r.address, r.attempts, r.last_reply, (${STATUS_SQL}) AS status
       FROM recipients r JOIN messages m ON m.id = r.message_id
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY m.received_at DESC, m.id DESC, r.id LIMIT $${params.length - 1} OFFSET $${params.length}`,
      params,
    );
    return rows.map((row) => ({
      queueId: row.id,
      receivedAt: row.received_at,
      sender: row.mail_from,
      recipient: row.address,
      status: row.status as TraceStatus,
      lastReply: row.last_reply,
      attempts: row.attempts,
      messageIdHeader: row.message_id_header,
      size: row.size,
      route: row.route,
      client: row.client_json as ClientInfo,
    }));
  }

  async traceMessage(id: string): Promise<TraceEvent[] | null> {
    const { rows } = await this.#pool.query(SQL.getMessage, [id]);
    const m = rows[0];
    if (!m) return null;
    const client = m.client_json as ClientInfo;
    const rcpts = (await this.#pool.query(SQL.messageRecipientAddresses, [id])).rows;
    const addr = new Map(rcpts.map((r) => [r.id as number, r.address as string]));
    const who = [client.ip, client.user && `user ${client.user}`, client.rule && `rule ${client.rule}`]
      .filter(Boolean)
      .join(', ');
    const events: TraceEvent[] = [
      {
        at: m.received_at,
        event: 'Receive',
        recipient: null,
        detail: `from ${who} on ${client.listener}, ${client.tls ?? 'no TLS'}, ${m.size} bytes, Message-ID ${m.message_id_header ?? '-'}`,
      },
      {
        at: m.received_at,
        event: 'Queue',
        recipient: null,
        detail: `route ${m.route}, ${rcpts.length} recipient${rcpts.length === 1 ? '' : 's'}`,
      },
    ];
    for (const a of (await this.#pool.query(SQL.messageAttempts, [id])).rows) {
      const event =
        a.category === 'expired'
          ? 'Expire'
          : a.outcome === 'delivered'
            ? 'Deliver'
            : a.outcome === 'failed'
              ? 'Fail'
              : 'Defer';
      events.push({
        at: a.started_at + a.duration_ms,
        event,
        recipient: addr.get(a.recipient_id) ?? null,
        detail: `${a.transport}${a.upstream ? ` via ${a.upstream}` : ''} in ${a.duration_ms} ms: ${a.reply}`,
      });
    }
    for (const e of (await this.#pool.query(SQL.messageTraceEvents, [id])).rows)
      events.push({ at: e.at, event: e.event, recipient: null, detail: e.detail ?? '' });
    return events.sort((x, y) => x.at - y.at);
  }

  async refusals(q: { ip?: string; since?: number; limit?: number; offset?: number }): Promise<Refusal[]> {
    const { rows } = await this.#pool.query(SQL.listRefusals, [
      q.ip || null,
      q.since ?? null,
      Math.min(q.limit ?? 100, 10_000),
      q.offset ?? 0,
    ]);
    return rows as Refusal[];
  }

  async purge(before: number): Promise<void> {
    await this.#pool.query(SQL.purgeTraceEvents, [before]);
    await this.#pool.query(SQL.purgeRefusals, [before]);
  }
}

const STATUS_SQL = statusSql('m.held');
