import { createHash } from 'node:crypto';

import addressparser from 'nodemailer/lib/addressparser';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';

import type { Config } from '../config/schema.ts';
import type { RelayEvents } from '../observability/events.ts';
import type { Logger } from '../observability/logger.ts';
import type { DeviceBudgets } from '../policy/device-budget.ts';
import { isStoreFull } from '../queue/sqlite/store.ts';
import type { NewRecipient, QueueStore } from '../queue/store.ts';
import { domainOf, normaliseIp } from '../util/address.ts';
import { newQueueId } from '../util/id.ts';
import { formatDuration, parseDuration } from '../util/units.ts';
import { buildReceived, headerValue } from './received.ts';
import { repairMessage } from './repair.ts';
import { replies, type SmtpError } from './replies.ts';
import type { Transaction } from './transaction.ts';

export interface IntakeDeps {
  config: Readonly<Config>;
  store: QueueStore;
  events: RelayEvents;
  log: Logger;
  now: () => number;
  newId?: () => string;
  maxSize: number;
  budgets: DeviceBudgets;
  transaction: (session: SMTPServerSession) => Transaction | null;
  rejected: (session: SMTPServerSession, phase: string, reply: SmtpError) => void;
  accepted: (session: SMTPServerSession) => void;
  dropConnection: (session: SMTPServerSession, reply: SmtpError) => void;
}

/**
 * DATA: collect the message (bounded in time and size), check it against the client rule,
 * repair it (repair.ts), prepend Received and commit it with its envelope. The device hears
 * 250 only once store.enqueue() resolved, i.e. after the commit reached the disk.
 */
export class Intake {
  readonly #deps: IntakeDeps;
  readonly #dataTimeoutMs: number;

  constructor(deps: IntakeDeps) {
    this.#deps = deps;
    this.#dataTimeoutMs = parseDuration(deps.config.limits.dataTimeout);
  }

  receive(
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
      this.#deps.dropConnection(session, replies.dataTimeout(formatDuration(this.#dataTimeoutMs)));
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
      const tx = this.#deps.transaction(session);
      const limit = Math.min(this.#deps.maxSize, tx?.rule.maxSize ?? Infinity);
      const refusal = !tx
        ? replies.localError()
        : stream.sizeExceeded || stream.byteLength > limit
          ? replies.messageTooLarge(limit)
          : null;
      if (refusal) {
        this.#deps.rejected(session, 'data', refusal);
        return cb(refusal);
      }
      this.#accept(session, listener, tx!, Buffer.concat(chunks)).then(
        (queueId) => cb(null, replies.queued(queueId).message),
        (err: SmtpError) => cb(err),
      );
    });
  }

  async #accept(
    session: SMTPServerSession,
    listener: string,
    tx: Transaction,
    data: Buffer,
  ): Promise<string> {
    const { config, store, events, log } = this.#deps;
    const now = this.#deps.now();
    const id = this.#deps.newId?.() ?? newQueueId(now);
    const envelope = session.envelope;
    const mailFrom = envelope.mailFrom ? envelope.mailFrom.address : '';
    const user = typeof session.user === 'string' ? session.user : null;
    const duplicate = await this.#duplicateOf(session, data, mailFrom, now);
    if (duplicate.of) {
      log.info({ sid: session.id, duplicateOf: duplicate.of, from: mailFrom }, 'smtp:duplicate');
      await store
        .recordEvent(
          duplicate.of,
          now,
          'Duplicate',
          `sent again by ${normaliseIp(session.remoteAddress)}; answered 250 with this id, not queued again`,
        )
        .catch(() => undefined);
      events.emit('smtp:duplicate', { sid: session.id, queueId: duplicate.of });
      this.#deps.accepted(session);
      return duplicate.of;
    }
    const { body: repaired, repairs } = repairMessage(data, {
      mailFrom,
      hostname: config.relay.hostname!,
      queueId: id,
      now: new Date(now),
    });
    const badFrom = this.#fromOutsideRule(repaired, tx, user);
    if (badFrom !== null) {
      const refusal = replies.fromHeaderNotAllowed(badFrom, tx.rule.name);
      this.#deps.rejected(session, 'data', refusal);
      throw refusal;
    }
    const rcpts = envelope.rcptTo;
    const cipher = session.secure
      ? (session as unknown as { tlsOptions?: { version: string; name: string } }).tlsOptions
      : undefined;
    const received = buildReceived({
      helo: session.hostNameAppearsAs ?? '',
      ip: normaliseIp(session.remoteAddress),
      byHost: config.relay.hostname!,
      queueId: id,
      protocol: `ESMTP${session.secure ? 'S' : ''}${user ? 'A' : ''}`,
      tls: cipher ? { version: cipher.version, cipher: cipher.name } : null,
      recipient: rcpts.length === 1 ? rcpts[0]!.address : null,
      date: new Date(now),
    });
    const body = Buffer.concat([Buffer.from(received, 'latin1'), repaired]);
    const dsn = (envelope as { dsn?: { ret?: string; envid?: string } }).dsn ?? {};
    const recipients: NewRecipient[] = rcpts.map((r) => {
      const rdsn = (r as { dsn?: { notify?: string[]; orcpt?: string } }).dsn;
      return { address: r.address, notify: rdsn?.notify ?? null, orcpt: rdsn?.orcpt ?? null };
    });
    try {
      await store.enqueue({
        id,
        receivedAt: now,
        mailFrom,
        recipients,
        dsn: { ret: (dsn.ret as 'FULL' | 'HDRS' | undefined) ?? null, envid: dsn.envid ?? null },
        smtputf8: Boolean((envelope as { smtpUtf8?: boolean }).smtpUtf8),
        bodyType: (envelope as { bodyType?: string }).bodyType === '8bitmime' ? '8bitmime' : '7bit',
        client: {
          ip: normaliseIp(session.remoteAddress),
          helo: session.hostNameAppearsAs ?? '',
          listener,
          user,
          tls: cipher?.version ?? null,
          rule: tx.rule.name,
          ...(tx.rule.mailbox ? { mailbox: tx.rule.mailbox } : {}),
        },
        route: tx.route,
        messageIdHeader: headerValue(repaired, 'message-id'),
        dedupKey: duplicate.key,
        body,
        expiresAt: now + parseDuration(config.delivery.maxAge),
      });
    } catch (err) {
      log.error({ err, sid: session.id }, 'queue:write-failed');
      const reply = isStoreFull(err) ? replies.storageFull() : replies.queueUnavailable();
      this.#deps.rejected(session, 'data', reply);
      throw reply;
    }
    // Counted only where the rule has a budget (a write per message otherwise wasted). The
    // message is safe whatever happens here: a count that fails is logged, not refused.
    if (tx.rule.rate !== undefined || tx.rule.dailyRecipients !== undefined)
      await this.#deps.budgets
        .record(tx.budgetKey, rcpts.length)
        .catch((err: unknown) => log.warn({ err, sid: session.id }, 'smtp:budget-record-failed'));
    this.#deps.accepted(session);
    log.info(
      {
        sid: session.id,
        queueId: id,
        from: mailFrom,
        rcpts: rcpts.length,
        size: body.length,
        route: tx.route,
        rule: tx.rule.name,
      },
      'smtp:accepted',
    );
    if (repairs.length > 0) {
      log.info({ sid: session.id, queueId: id, repairs }, 'smtp:repaired');
      events.emit('smtp:repaired', { sid: session.id, queueId: id, repairs });
    }
    events.emit('smtp:accepted', {
      sid: session.id,
      queueId: id,
      size: body.length,
      recipients: rcpts.length,
      route: tx.route,
      device: `${tx.rule.name}/${user ?? normaliseIp(session.remoteAddress)}`,
      domains: rcpts.map((r) => domainOf(r.address)),
    });
    events.emit('queue:enqueued', { queueId: id, route: tx.route });
    return id;
  }

  /**
   * A device that timed out waiting for our 250 sends the same message again. With the same
   * Message-ID (its own, not one we added), sender, recipients and client within
   * duplicates.window, the earlier message's id is returned: the device gets its 250 and the
   * message is not sent twice. A lookup failure never refuses mail: the message is then taken.
   */
  async #duplicateOf(
    session: SMTPServerSession,
    data: Buffer,
    mailFrom: string,
    now: number,
  ): Promise<{ key: string | null; of: string | null }> {
    const windowMs = parseDuration(this.#deps.config.duplicates.window);
    const messageId = headerValue(data, 'message-id');
    if (windowMs <= 0 || !messageId) return { key: null, of: null };
    const key = createHash('sha256')
      .update(
        JSON.stringify([
          messageId,
          mailFrom.toLowerCase(),
          session.envelope.rcptTo.map((r) => r.address.toLowerCase()).sort(),
          normaliseIp(session.remoteAddress),
          typeof session.user === 'string' ? session.user : null,
        ]),
      )
      .digest('base64url');
    try {
      return { key, of: await this.#deps.store.findDuplicate(key, now - windowMs) };
    } catch (err) {
      this.#deps.log.warn({ err, sid: session.id }, 'queue:duplicate-check-failed');
      return { key, of: null };
    }
  }

  /** The first From address the client rule does not allow, or null when all are fine. */
  #fromOutsideRule(message: Buffer, tx: Transaction, user: string | null): string | null {
    const from = headerValue(message, 'from');
    if (from === null) return null;
    const parsed = addressparser(from, { flatten: true }) as { address?: string }[];
    for (const a of parsed) if (a.address && !tx.rule.mayUseSender(a.address, user)) return a.address;
    return null;
  }
}
