import type { Database } from 'better-sqlite3';

import type { ClientInfo, Refusal, TraceEvent, TraceQuery, TraceRow, TraceStatus } from '../store.ts';
import { likePattern, statusSql } from '../trace-sql.ts';

/**
 * The message trace over the SQLite spool: recipient rows joined with their message, and a
 * message's events merged from its rows, its attempts and trace_events. Kept apart from
 * store.ts, which it shares a connection with.
 */
export class SqliteTrace {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  recordEvent(messageId: string, at: number, event: string, detail: string): void {
    this.#db
      .prepare('INSERT INTO trace_events (at, message_id, event, detail) VALUES (?, ?, ?, ?)')
      .run(at, messageId, event, detail);
  }

  recordRefusal(r: Refusal): void {
    this.#db
      .prepare(
        `INSERT INTO refusals (at, ip, listener, user, phase, sender, recipient, reply)
         VALUES (@at, @ip, @listener, @user, @phase, @sender, @recipient, @reply)`,
      )
      .run(r);
  }

  trace(q: TraceQuery): TraceRow[] {
    const where: string[] = [];
    const p: Record<string, unknown> = { limit: Math.min(q.limit ?? 100, 10_000), offset: q.offset ?? 0 };
    if (q.sender !== undefined) {
      where.push(`lower(m.mail_from) LIKE @sender ESCAPE '\\'`);
      p.sender = likePattern(q.sender);
    }
    if (q.recipient !== undefined) {
      where.push(`lower(r.address) LIKE @recipient ESCAPE '\\'`);
      p.recipient = likePattern(q.recipient);
    }
    if (q.since !== undefined) {
      where.push('m.received_at >= @since');
      p.since = q.since;
    }
    if (q.until !== undefined) {
      where.push('m.received_at < @until');
      p.until = q.until;
    }
    if (q.messageId !== undefined) {
      where.push('m.message_id_header = @messageId');
      p.messageId = q.messageId.startsWith('<') ? q.messageId : `<${q.messageId}>`;
    }
    if (q.clientIp !== undefined) {
      where.push(`json_extract(m.client_json, '$.ip') = @ip`);
      p.ip = q.clientIp;
    }
    if (q.device !== undefined) {
      where.push(
        `(json_extract(m.client_json, '$.rule') = @device OR json_extract(m.client_json, '$.user') = @device)`,
      );
      p.device = q.device;
    }
    if (q.status !== undefined) {
      where.push(`(${STATUS_SQL}) = @status`);
      p.status = q.status;
    }
    const rows = this.#db
      .prepare(
        `SELECT m.id, m.received_at, m.mail_from, m.message_id_header, m.size, m.route, m.client_json,
                r.address, r.attempts, r.last_reply, (${STATUS_SQL}) AS status
         FROM recipients r JOIN messages m ON m.id = r.message_id
         ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY m.received_at DESC, m.id DESC, r.id LIMIT @limit OFFSET @offset`,
      )
      .all(p) as Record<string, unknown>[];
    return rows.map((row) => ({
      queueId: row.id as string,
      receivedAt: row.received_at as number,
      sender: row.mail_from as string,
      recipient: row.address as string,
      status: row.status as TraceStatus,
      lastReply: row.last_reply as string | null,
      attempts: row.attempts as number,
      messageIdHeader: row.message_id_header as string | null,
      size: row.size as number,
      route: row.route as string,
      client: JSON.parse(row.client_json as string) as ClientInfo,
    }));
  }

  traceMessage(id: string): TraceEvent[] | null {
    const m = this.#db.prepare('SELECT * FROM messages WHERE id = ?').get(id) as
      Record<string, unknown> | undefined;
    if (!m) return null;
    const client = JSON.parse(m.client_json as string) as ClientInfo;
    const rcpts = this.#db.prepare('SELECT id, address FROM recipients WHERE message_id = ?').all(id) as {
      id: number;
      address: string;
    }[];
    const addr = new Map(rcpts.map((r) => [r.id, r.address]));
    const at = m.received_at as number;
    const who = [client.ip, client.user && `user ${client.user}`, client.rule && `rule ${client.rule}`]
      .filter(Boolean)
      .join(', ');
    const events: TraceEvent[] = [
      {
        at,
        event: 'Receive',
        recipient: null,
        detail: `from ${who} on ${client.listener}, ${client.tls ?? 'no TLS'}, ${m.size as number} bytes, Message-ID ${(m.message_id_header as string | null) ?? '-'}`,
      },
      {
        at,
        event: 'Queue',
        recipient: null,
        detail: `route ${m.route as string}, ${rcpts.length} recipient${rcpts.length === 1 ? '' : 's'}`,
      },
    ];
    const attempts = this.#db
      .prepare('SELECT * FROM attempts WHERE message_id = ? ORDER BY id')
      .all(id) as Record<string, unknown>[];
    for (const a of attempts) {
      const outcome = a.outcome as string;
      const event =
        a.category === 'expired'
          ? 'Expire'
          : outcome === 'delivered'
            ? 'Deliver'
            : outcome === 'failed'
              ? 'Fail'
              : 'Defer';
      events.push({
        at: (a.started_at as number) + (a.duration_ms as number),
        event,
        recipient: addr.get(a.recipient_id as number) ?? null,
        detail: `${a.transport as string}${a.upstream ? ` via ${a.upstream as string}` : ''} in ${a.duration_ms as number} ms: ${a.reply as string}`,
      });
    }
    const extra = this.#db
      .prepare('SELECT * FROM trace_events WHERE message_id = ? ORDER BY id')
      .all(id) as Record<string, unknown>[];
    for (const e of extra)
      events.push({
        at: e.at as number,
        event: e.event as string,
        recipient: null,
        detail: (e.detail as string) ?? '',
      });
    return events.sort((x, y) => x.at - y.at);
  }

  refusals(q: { ip?: string; since?: number; limit?: number; offset?: number }): Refusal[] {
    const where: string[] = [];
    const p: Record<string, unknown> = { limit: Math.min(q.limit ?? 100, 10_000), offset: q.offset ?? 0 };
    if (q.ip) {
      where.push('ip = @ip');
      p.ip = q.ip;
    }
    if (q.since !== undefined) {
      where.push('at >= @since');
      p.since = q.since;
    }
    return this.#db
      .prepare(
        `SELECT at, ip, listener, user, phase, sender, recipient, reply FROM refusals
         ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY at DESC, id DESC LIMIT @limit OFFSET @offset`,
      )
      .all(p) as Refusal[];
  }

  purge(before: number): number {
    const a = this.#db
      .prepare('DELETE FROM trace_events WHERE at < ? AND message_id NOT IN (SELECT id FROM messages)')
      .run(before);
    const b = this.#db.prepare('DELETE FROM refusals WHERE at < ?').run(before);
    return a.changes + b.changes;
  }
}

const STATUS_SQL = statusSql('m.held = 1');
