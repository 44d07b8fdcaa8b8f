import type { Config } from '../config/schema.ts';
import { Bouncer } from '../dsn/bouncer.ts';
import type { RelayEvents } from '../observability/events.ts';
import type { Logger } from '../observability/logger.ts';
import type { ClaimedMessage, QueueStore, RecipientResult } from '../queue/store.ts';
import { Scheduler } from '../scheduler/admission.ts';
import type { SpendRef } from '../scheduler/ledger.ts';
import { RouteGate } from '../scheduler/route-gate.ts';
import { parseRetrySchedule, retryDelay, type RetrySchedule } from '../util/retry-schedule.ts';
import { formatDuration, parseDuration } from '../util/units.ts';
import { classifyError, classifyFailure } from './classify.ts';
import type { Transport } from './transport.ts';

const COALESCE_MS = 2;

/**
 * Configuration and sender problems cannot clear by themselves, and Exchange throttles mailboxes
 * that repeat such errors (5.2.25x, facts §2.6): wait at least this long before trying again.
 * Quotas free up over a rolling 24 h. Everything else follows the retry schedule.
 */
const PAUSE_FLOOR_MS: Record<string, number> = {
  credential: 15 * 60_000,
  'sender-denied': 15 * 60_000,
  blocked: 15 * 60_000,
  quota: 60 * 60_000,
  'tenant-limit': 60 * 60_000,
};

/** Deferral categories that pause the whole route until the message's next attempt. */
const ROUTE_PAUSE_CATEGORIES = new Set(['quota', 'tenant-limit', 'blocked', 'credential']);
/** Of those, the ones that belong to the sending mailbox: with a known mailbox only it pauses. */
const MAILBOX_PAUSE_CATEGORIES = new Set(['quota', 'blocked']);

function pauseFloorMs(results: RecipientResult[]): number {
  return Math.max(
    0,
    ...results.filter((r) => r.outcome === 'deferred').map((r) => PAUSE_FLOOR_MS[r.category] ?? 0),
  );
}

export interface WorkerDeps {
  config: Readonly<Config>;
  store: QueueStore;
  transports: ReadonlyMap<string, Transport>;
  events: RelayEvents;
  log: Logger;
  /** Lease owner name; unique per process so a restarted process does not inherit stale leases. */
  owner: string;
  now?: () => number;
}

/**
 * Claims due messages, sends them through their route's transport, and records what happened
 * to each recipient. Concurrency is per route. The worker sleeps until the next message is due
 * (or pollInterval, or a poke() from the inbound side) instead of spinning.
 */
export class DeliveryWorker {
  readonly #deps: WorkerDeps;
  readonly #schedule: RetrySchedule;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #inFlight = new Map<string, number>();
  readonly #gate = new RouteGate();
  readonly #scheduler: Scheduler;
  readonly #bouncer: Bouncer;
  readonly #running = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | null = null;
  #pokeTimer: NodeJS.Timeout | null = null;
  #ticking = false;
  #again = false;
  #stopping = false;

  constructor(deps: WorkerDeps) {
    this.#deps = deps;
    this.#schedule = parseRetrySchedule(deps.config.delivery.retrySchedule);
    this.#leaseMs = parseDuration(deps.config.delivery.leaseTime);
    this.#pollMs = parseDuration(deps.config.delivery.pollInterval);
    this.#bouncer = new Bouncer(deps.config, deps.store, deps.log, () => this.#now());
    // Shared by every node when the store is (PostgreSQL); this process's own otherwise.
    this.#scheduler = new Scheduler(deps.config, deps.store.ledger(), () => this.#now());
  }

  start(): void {
    this.poke();
  }

  /**
   * Look for work soon (a message was just queued, or a slot became free). Pokes within
   * COALESCE_MS share one claim, so twenty deliveries finishing together cost one query that
   * claims twenty messages rather than twenty queries that claim one each.
   */
  poke(): void {
    if (this.#stopping) return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    if (this.#pokeTimer) return;
    this.#pokeTimer = setTimeout(() => {
      this.#pokeTimer = null;
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
      void this.#tick();
    }, COALESCE_MS);
  }

  get busy(): number {
    return this.#running.size;
  }

  async #tick(): Promise<void> {
    this.#ticking = true;
    try {
      let idleSlots = false;
      do {
        this.#again = false;
        idleSlots = false;
        for (const [route, cfg] of Object.entries(this.#deps.config.routes)) {
          if (this.#gate.pausedUntil(route, this.#now()) !== null) continue;
          const free = this.#gate.concurrency(route, cfg.concurrency) - (this.#inFlight.get(route) ?? 0);
          if (free <= 0 || this.#stopping) continue;
          const claimed = await this.#deps.store.claimDue(this.#deps.owner, {
            now: this.#now(),
            limit: free,
            leaseMs: this.#leaseMs,
            routes: [route],
          });
          for (const message of claimed) this.#launch(message);
          if (claimed.length < free) idleSlots = true;
        }
      } while (this.#again && !this.#stopping);
      // With every slot busy, the next finished delivery pokes; only idle slots need the timer.
      if (idleSlots) await this.#sleepUntilDue();
      else this.#arm(this.#pollMs);
    } catch (err) {
      this.#deps.log.error({ err }, 'delivery:claim-failed');
      this.#arm(this.#pollMs);
    } finally {
      this.#ticking = false;
    }
  }

  async #sleepUntilDue(): Promise<void> {
    const next = await this.#deps.store.nextDueAt();
    const wait = next === null ? this.#pollMs : Math.min(Math.max(next - this.#now(), 0), this.#pollMs);
    this.#arm(Math.max(wait, 10));
  }

  #arm(ms: number): void {
    if (this.#stopping) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.poke();
    }, ms);
    this.#timer.unref();
  }

  #launch(message: ClaimedMessage): void {
    this.#inFlight.set(message.route, (this.#inFlight.get(message.route) ?? 0) + 1);
    const run = this.#deliver(message)
      .catch((err: unknown) => this.#deps.log.error({ err, queueId: message.id }, 'delivery:record-failed'))
      .finally(() => {
        this.#running.delete(run);
        this.#inFlight.set(message.route, (this.#inFlight.get(message.route) ?? 1) - 1);
        this.poke();
      });
    this.#running.add(run);
  }

  async #deliver(message: ClaimedMessage): Promise<void> {
    const { store, transports, events, log } = this.#deps;
    const startedAt = this.#now();
    const pending = message.recipients.filter((r) => r.state === 'queued' || r.state === 'deferred');
    const transport = transports.get(message.route);
    let results: RecipientResult[];
    let upstream: string | null = null;
    let retryAfterMs: number | null = null;
    let body: Buffer | null = null;
    let mailbox = message.client.mailbox;
    let spent: SpendRef[] = [];
    const candidates = transport?.senders?.({ mailFrom: message.mailFrom, mailbox }) ?? [];
    if (startedAt < message.expiresAt) {
      const admission = await this.#scheduler.admit(message.route, candidates, pending);
      if (!admission.ok) {
        // Not an attempt: the message waits for the budget instead of provoking 432/5.2.0.
        const until = Math.min(admission.until, message.expiresAt);
        await store.throttle(message.id, message.leaseOwner, until, admission.reason, admission.key);
        const at = new Date(until).toISOString();
        log.info(
          { queueId: message.id, route: message.route, until: at, reason: admission.reason },
          'delivery:throttled',
        );
        events.emit('delivery:throttled', {
          queueId: message.id,
          route: message.route,
          mailbox: admission.key,
          until,
        });
        return;
      }
      if (admission.mailbox) mailbox = admission.mailbox;
      spent = admission.spent;
    }

    if (startedAt >= message.expiresAt) {
      const age = formatDuration(parseDuration(this.#deps.config.delivery.maxAge));
      const reply = `4.4.7 Message expired: not delivered within ${age}; last reply: ${message.lastReply ?? 'none'}`;
      results = pending.map((r) => ({ recipientId: r.id, outcome: 'failed', reply, category: 'expired' }));
    } else if (!transport) {
      const reply = `4.3.5 Route "${message.route}" is not configured on this relay`;
      results = pending.map((r) => ({ recipientId: r.id, outcome: 'deferred', reply, category: 'config' }));
    } else {
      events.emit('delivery:attempt', {
        queueId: message.id,
        route: message.route,
        transport: transport.kind,
        recipients: pending.length,
        mailbox: mailbox ?? null,
      });
      try {
        body = await store.readBody(message.id);
        const sent = await transport.send({
          id: message.id,
          mailFrom: message.mailFrom,
          recipients: pending.map((r) => ({
            id: r.id,
            address: r.address,
            notify: r.notify,
            orcpt: r.orcpt,
          })),
          dsn: message.dsn,
          smtputf8: message.smtputf8,
          body,
          ...(mailbox ? { mailbox } : {}),
        });
        upstream = sent.upstream;
        results = sent.recipients.map((r) => {
          if (r.accepted)
            return {
              recipientId: r.recipientId,
              outcome: 'delivered',
              reply: r.reply,
              category: 'delivered',
            };
          const v = classifyFailure({ responseCode: r.code, response: r.reply });
          return {
            recipientId: r.recipientId,
            outcome: v.action === 'fail' ? 'failed' : 'deferred',
            reply: v.reply,
            category: v.category,
          };
        });
      } catch (err) {
        const v = classifyError(err);
        // Graph's 429 names its own wait (Retry-After): obey it rather than the schedule.
        retryAfterMs = (err as { retryAfterMs?: number | null }).retryAfterMs ?? null;
        results = pending.map((r) => ({
          recipientId: r.id,
          outcome: v.action === 'fail' ? 'failed' : 'deferred',
          reply: v.reply,
          category: v.category,
        }));
      }
    }

    if (spent.length > 0)
      await this.#scheduler
        .sent(spent)
        .catch((err: unknown) => log.warn({ err, queueId: message.id }, 'delivery:budget-restamp-failed'));
    const durationMs = this.#now() - startedAt;
    const delay = Math.max(
      retryAfterMs ?? retryDelay(this.#schedule, message.attempts + 1),
      pauseFloorMs(results),
    );
    // Never schedule past expiry: the attempt at expiry time turns the rest into failures.
    const nextAttemptAt = Math.min(
      startedAt + durationMs + delay,
      Math.max(message.expiresAt, startedAt + 1),
    );
    // A quota, a block or a credential problem is the mailbox's, not this message's: the whole
    // route waits, so its other messages do not walk into the same refusal (facts §2.6).
    const pauseReason = results.find(
      (r) => r.outcome === 'deferred' && ROUTE_PAUSE_CATEGORIES.has(r.category),
    );
    if (pauseReason && mailbox && MAILBOX_PAUSE_CATEGORIES.has(pauseReason.category)) {
      await this.#scheduler.pauseMailbox(
        mailbox,
        nextAttemptAt,
        `${mailbox} paused after: ${pauseReason.reply}`,
      );
      log.warn(
        {
          route: message.route,
          mailbox,
          until: new Date(nextAttemptAt).toISOString(),
          reason: pauseReason.reply,
        },
        'delivery:mailbox-paused',
      );
    } else if (pauseReason) {
      this.#gate.pause(message.route, nextAttemptAt);
      log.warn(
        { route: message.route, until: new Date(nextAttemptAt).toISOString(), reason: pauseReason.reply },
        'delivery:route-paused',
      );
    }
    // 432 4.3.2: too many connections for the mailbox; send with one fewer for a while.
    if (results.some((r) => r.category === 'concurrency'))
      this.#gate.narrow(message.route, this.#inFlight.get(message.route) ?? 1, this.#now());
    // The notification is queued before the attempt is recorded: a crash in between repeats
    // the attempt (and perhaps the notice) rather than losing the notice.
    await this.#notify(message, pending, results, upstream, startedAt, body);
    await store.recordAttempt({
      messageId: message.id,
      owner: message.leaseOwner,
      startedAt,
      durationMs,
      transport: transport?.kind ?? 'none',
      upstream,
      results,
      nextAttemptAt,
      mailbox: mailbox ?? null,
    });

    const byId = new Map(pending.map((r) => [r.id, r.address]));
    for (const r of results) {
      const recipient = byId.get(r.recipientId) ?? '';
      const base = {
        queueId: message.id,
        route: message.route,
        transport: transport?.kind ?? 'none',
        recipient,
      };
      if (r.outcome === 'delivered')
        events.emit('delivery:delivered', { ...base, latencyMs: this.#now() - message.receivedAt });
      else if (r.outcome === 'deferred')
        events.emit('delivery:deferred', { ...base, reason: r.reply, category: r.category });
      else events.emit('delivery:failed', { ...base, reason: r.reply, category: r.category });
    }
    const counts = { delivered: 0, deferred: 0, failed: 0 };
    for (const r of results) counts[r.outcome]++;
    log.info(
      {
        queueId: message.id,
        route: message.route,
        transport: transport?.kind,
        upstream,
        attempt: message.attempts + 1,
        durationMs,
        ...counts,
        reply: results.find((r) => r.outcome !== 'delivered')?.reply ?? results[0]?.reply,
        nextAttemptAt: counts.deferred ? new Date(nextAttemptAt).toISOString() : undefined,
      },
      'delivery:attempt',
    );
  }

  /** Queues a bounce for recipients that failed now, or one delay notice for a message waiting too long. */
  async #notify(
    message: ClaimedMessage,
    pending: ClaimedMessage['recipients'],
    results: RecipientResult[],
    upstream: string | null,
    at: number,
    body: Buffer | null,
  ): Promise<void> {
    if (!this.#deps.config.bounces.enabled || message.mailFrom === '') return;
    const failed = results.filter((r) => r.outcome === 'failed');
    let action: 'failed' | 'delayed' | null = failed.length > 0 ? 'failed' : null;
    if (!action && results.some((r) => r.outcome === 'deferred')) {
      if (
        this.#bouncer.delayNoticeDue(message.receivedAt) &&
        (await this.#deps.store.markDelayNotified(message.id))
      )
        action = 'delayed';
    }
    if (!action) return;
    const byId = new Map(pending.map((r) => [r.id, r]));
    const recipients = results
      .filter((r) => r.outcome === (action === 'failed' ? 'failed' : 'deferred'))
      .map((r) => {
        const rcpt = byId.get(r.recipientId)!;
        return {
          address: rcpt.address,
          orcpt: rcpt.orcpt,
          notify: rcpt.notify,
          action: action!,
          reply: r.reply,
          remoteMta: upstream,
          lastAttemptAt: at,
        };
      });
    const original = body ?? (await this.#deps.store.readBody(message.id).catch(() => null));
    await this.#bouncer.notify(message, recipients, original);
    this.poke();
  }

  /** Stops claiming and waits up to `graceMs` for deliveries in flight. Unfinished ones keep their lease until it expires. */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#pokeTimer) clearTimeout(this.#pokeTimer);
    this.#timer = null;
    this.#pokeTimer = null;
    if (this.#running.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#running]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
  }

  #now(): number {
    return this.#deps.now?.() ?? Date.now();
  }
}
