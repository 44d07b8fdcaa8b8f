import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { MessageMeta, QueueStore } from '../queue/store.ts';
import { newQueueId } from '../util/id.ts';
import { parseDuration, parseSize } from '../util/units.ts';
import { buildDsn, type DsnRecipient } from './report.ts';

export interface BounceRecipient extends DsnRecipient {
  /** NOTIFY from the submission, or null when the client sent none. */
  notify: string[] | null;
}

/**
 * Decides whether a delivery status notification is owed and queues it like any other
 * message, so it is durable and retried. No DSN for the null sender (a bounce never bounces),
 * for NOTIFY=NEVER, or for an action the client's NOTIFY leaves out; without NOTIFY, failures
 * and (when bounces.delayAfter is set) delays are reported, as RFC 3461 leaves to the server.
 */
export class Bouncer {
  readonly #config: Readonly<Config>;
  readonly #store: QueueStore;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(config: Readonly<Config>, store: QueueStore, log: Logger, now: () => number = Date.now) {
    this.#config = config;
    this.#store = store;
    this.#log = log;
    this.#now = now;
  }

  /** Whether a delay notice is due for a message received at `receivedAt`. */
  delayNoticeDue(receivedAt: number): boolean {
    const after = this.#config.bounces.delayAfter;
    return after !== undefined && this.#now() - receivedAt >= parseDuration(after);
  }

  /** Queues a DSN for those of `recipients` that want one; returns its queue id, or null when none is owed. */
  async notify(
    message: MessageMeta,
    recipients: BounceRecipient[],
    original: Buffer | null,
  ): Promise<string | null> {
    const { bounces, relay } = this.#config;
    if (!bounces.enabled || message.mailFrom === '') return null;
    const wanted = recipients.filter((r) => {
      const notify = r.notify?.map((n) => n.toUpperCase()) ?? null;
      if (notify?.includes('NEVER')) return false;
      if (r.action === 'failed') return notify === null || notify.includes('FAILURE');
      return notify === null || notify.includes('DELAY');
    });
    if (wanted.length === 0) return null;
    const now = this.#now();
    const id = newQueueId(now);
    const to = [bounces.redirectTo ?? message.mailFrom, ...(bounces.copyTo ? [bounces.copyTo] : [])];
    const body = buildDsn({
      reportingMta: relay.hostname!,
      queueId: message.id,
      originalSender: message.mailFrom,
      envid: message.dsn.envid,
      ret: message.dsn.ret,
      arrivalDate: message.receivedAt,
      recipients: wanted,
      original,
      maxReturnBytes: parseSize(bounces.maxReturnSize),
      now,
    });
    await this.#store.enqueue({
      id,
      receivedAt: now,
      mailFrom: '',
      recipients: [...new Set(to)].map((address) => ({ address, notify: null, orcpt: null })),
      dsn: { ret: null, envid: null },
      smtputf8: false,
      bodyType: '7bit',
      client: {
        ip: '127.0.0.1',
        helo: relay.hostname!,
        listener: 'bounce',
        user: null,
        tls: null,
        rule: 'bounce',
      },
      route: bounces.route ?? relay.defaultRoute,
      messageIdHeader: null,
      body,
      expiresAt: now + parseDuration(this.#config.delivery.maxAge),
    });
    await this.#store.recordEvent(
      message.id,
      now,
      'Bounce',
      `${wanted[0]!.action === 'failed' ? 'bounce' : 'delay notice'} ${id} to ${to.join(', ')} for ${wanted.map((r) => r.address).join(', ')}`,
    );
    this.#log.info(
      {
        queueId: id,
        original: message.id,
        action: wanted[0]!.action,
        to,
        recipients: wanted.map((r) => r.address),
      },
      'dsn:queued',
    );
    return id;
  }
}

/** An operator's "bounce now": the pending recipients fail and the sender hears why, as for any failure. */
export async function bounceNow(
  store: QueueStore,
  config: Readonly<Config>,
  log: Logger,
  id: string,
  now: () => number = Date.now,
): Promise<boolean> {
  const m = await store.get(id);
  if (!m || m.state !== 'active') return false;
  const original = await store.readBody(id).catch(() => null);
  const reply = '5.0.0 Returned by the relay operator; not delivered';
  const failed = await store.failPending(id, reply, now());
  if (failed.length === 0) return false;
  await new Bouncer(config, store, log, now).notify(
    m,
    failed.map((r) => ({
      address: r.address,
      orcpt: r.orcpt,
      notify: r.notify,
      action: 'failed' as const,
      reply,
      remoteMta: null,
      lastAttemptAt: null,
    })),
    original,
  );
  return true;
}
