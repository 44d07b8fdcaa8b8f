import type { Config } from '../config/schema.ts';
import type { RelayEvents } from '../observability/events.ts';
import type { Logger } from '../observability/logger.ts';
import type { QueueStore } from '../queue/store.ts';
import { rfc5322Date } from '../smtp/received.ts';
import { newQueueId } from '../util/id.ts';
import { parseDuration } from '../util/units.ts';
import { type Alert, AnomalyDetector } from './detector.ts';

const WEBHOOK_TIMEOUT_MS = 5000;

/**
 * Feeds the detector from the relay's events and sends what it raises: to the log
 * (`alert:raised`) and the `alert:raised` event (a metric counts it) always, to a webhook and
 * an admin address when configured. The email goes through the relay's own queue, like a bounce.
 */
export class AlertService {
  readonly #config: Readonly<Config>;
  readonly #store: QueueStore;
  readonly #events: RelayEvents;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #detector: AnomalyDetector;
  readonly #off: (() => void)[] = [];
  readonly #pending = new Set<Promise<void>>();

  constructor(
    config: Readonly<Config>,
    store: QueueStore,
    events: RelayEvents,
    log: Logger,
    now: () => number = Date.now,
  ) {
    this.#config = config;
    this.#store = store;
    this.#events = events;
    this.#log = log;
    this.#now = now;
    const a = config.alerts;
    this.#detector = new AnomalyDetector(
      {
        volumeFactor: a.volumeFactor,
        minMessagesPerHour: a.minMessagesPerHour,
        learningHours: a.learningHours,
        refusalsPerWindow: a.refusalsPer5m,
        cooldownMs: parseDuration(a.cooldown),
      },
      now,
    );
    if (!a.enabled) return;
    this.#off.push(
      // Alert mail itself (the null sender, rule "alert") is not watched.
      events.on('smtp:accepted', (e) =>
        this.#raise(this.#detector.message(`device ${e.device}`, e.recipients, e.domains)),
      ),
      events.on('delivery:attempt', (e) => {
        if (e.mailbox) this.#raise(this.#detector.message(`mailbox ${e.mailbox}`, e.recipients));
      }),
      events.on('smtp:rejected', (e) => this.#raise(this.#detector.refusal(e.remoteAddress, e.reply))),
    );
  }

  #raise(alerts: Alert[]): void {
    for (const alert of alerts) {
      this.#log.warn({ kind: alert.kind, subject: alert.subject, details: alert.details }, 'alert:raised');
      this.#events.emit('alert:raised', { kind: alert.kind, subject: alert.subject, summary: alert.summary });
      const { webhook, email } = this.#config.alerts;
      if (webhook) this.#track(this.#post(webhook, alert));
      if (email) this.#track(this.#mail(email, alert));
    }
  }

  #track(p: Promise<void>): void {
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  async #post(url: string, alert: Alert): Promise<void> {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          source: 'bridgehead',
          relay: this.#config.relay.hostname,
          ...alert,
          at: new Date(alert.at).toISOString(),
        }),
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    } catch (err) {
      this.#log.warn({ err, kind: alert.kind }, 'alert:webhook-failed');
    }
  }

  async #mail(to: string, alert: Alert): Promise<void> {
    const host = this.#config.relay.hostname!;
    const now = this.#now();
    const id = newQueueId(now);
    const body = Buffer.from(
      [
        `From: Bridgehead alerts <postmaster@${host}>`,
        `To: <${to}>`,
        `Subject: [Bridgehead] ${alert.kind}: ${alert.subject}`.slice(0, 200),
        `Date: ${rfc5322Date(new Date(now))}`,
        `Message-ID: <${id}.alert@${host}>`,
        'Auto-Submitted: auto-generated',
        'Content-Type: text/plain; charset=utf-8',
        '',
        alert.summary,
        '',
        ...Object.entries(alert.details).map(([k, v]) => `${k}: ${v}`),
        '',
        `Relay ${host}, ${new Date(alert.at).toISOString()}.`,
        '',
      ].join('\r\n'),
    );
    try {
      await this.#store.enqueue({
        id,
        receivedAt: now,
        mailFrom: '',
        recipients: [{ address: to, notify: null, orcpt: null }],
        dsn: { ret: null, envid: null },
        smtputf8: false,
        bodyType: '8bitmime',
        client: { ip: '127.0.0.1', helo: host, listener: 'alerts', user: null, tls: null, rule: 'alert' },
        route: this.#config.bounces.route ?? this.#config.relay.defaultRoute,
        messageIdHeader: `<${id}.alert@${host}>`,
        body,
        expiresAt: now + parseDuration(this.#config.delivery.maxAge),
      });
      this.#events.emit('queue:enqueued', { queueId: id, route: this.#config.relay.defaultRoute });
    } catch (err) {
      this.#log.warn({ err, kind: alert.kind }, 'alert:email-failed');
    }
  }

  /** Stops listening and waits (bounded) for webhooks and mails in flight. */
  async close(): Promise<void> {
    this.#off.forEach((f) => f());
    await Promise.race([
      Promise.allSettled([...this.#pending]),
      new Promise((r) => setTimeout(r, WEBHOOK_TIMEOUT_MS).unref()),
    ]);
  }
}
