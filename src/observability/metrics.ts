import { Counter, Gauge, Histogram, Registry } from 'prom-client';

import type { QueueStats, QueueStore } from '../queue/store.ts';
import type { RelayEvents } from './events.ts';

/**
 * Every metric, defined once, fed by the typed events (the core never touches a metric) and,
 * for the queue, read from the store when Prometheus scrapes. Labels are bounded: routes,
 * listeners and mailboxes come from the configuration, codes and categories from the reply
 * catalogue and the classifier table; never an address or a message id.
 * docs/metrics.md lists them; a test keeps the two in step.
 */
export interface Metrics {
  registry: Registry;
  close(): void;
}

export function createMetrics(events: RelayEvents, store: QueueStore): Metrics {
  const registry = new Registry();
  const r = [registry];
  // The queue gauges below all read the same statistics: one store query per scrape, not one each.
  let scrape: { at: number; stats: Promise<QueueStats> } | null = null;
  const queueStats = () => {
    if (!scrape || Date.now() - scrape.at > 1000) scrape = { at: Date.now(), stats: store.stats() };
    return scrape.stats;
  };

  const sessions = new Counter({
    name: 'bridgehead_smtp_sessions_total',
    help: 'SMTP sessions that ended, by listener and the TLS version the device used ("none" for plain)',
    labelNames: ['listener', 'tls'],
    registers: r,
  });
  const accepted = new Counter({
    name: 'bridgehead_smtp_accepted_total',
    help: 'Messages accepted (250 after DATA), by route',
    labelNames: ['route'],
    registers: r,
  });
  const acceptedBytes = new Counter({
    name: 'bridgehead_smtp_accepted_bytes_total',
    help: 'Bytes of accepted messages, by route',
    labelNames: ['route'],
    registers: r,
  });
  const rejected = new Counter({
    name: 'bridgehead_smtp_rejected_total',
    help: 'Refusals Bridgehead sent, by SMTP phase and enhanced status code',
    labelNames: ['phase', 'code'],
    registers: r,
  });
  const auth = new Counter({
    name: 'bridgehead_smtp_auth_total',
    help: 'Device logins, by mechanism and result (ok, failed)',
    labelNames: ['method', 'result'],
    registers: r,
  });
  const duplicates = new Counter({
    name: 'bridgehead_smtp_duplicates_total',
    help: 'Resent messages answered with the earlier queue id and not queued again',
    registers: r,
  });
  const repaired = new Counter({
    name: 'bridgehead_smtp_repaired_total',
    help: 'Accepted messages repaired at intake, by repair',
    labelNames: ['repair'],
    registers: r,
  });
  const attempts = new Counter({
    name: 'bridgehead_delivery_attempts_total',
    help: 'Delivery attempts (one per message per try), by route and transport',
    labelNames: ['route', 'transport'],
    registers: r,
  });
  const outcomes = new Counter({
    name: 'bridgehead_delivery_recipients_total',
    help: 'Recipient outcomes of delivery attempts, by route, outcome (delivered, deferred, failed) and classifier category',
    labelNames: ['route', 'outcome', 'category'],
    registers: r,
  });
  const latency = new Histogram({
    name: 'bridgehead_delivery_latency_seconds',
    help: 'Time from acceptance to delivery of a recipient, by route',
    labelNames: ['route'],
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400],
    registers: r,
  });
  const throttled = new Counter({
    name: 'bridgehead_delivery_throttled_total',
    help: 'Times a message was put back to wait for a mailbox or tenant budget instead of being sent',
    labelNames: ['route'],
    registers: r,
  });
  const slotWait = new Histogram({
    name: 'bridgehead_delivery_slot_wait_seconds',
    help: 'Time a request waited for a concurrency slot other nodes held (Graph per app, submission per mailbox), by kind',
    labelNames: ['kind'],
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120],
    registers: r,
  });
  const tokenExpiry = new Gauge({
    name: 'bridgehead_token_expiry_timestamp_seconds',
    help: 'When the current OAuth token expires (Unix time), by tenant and resource',
    labelNames: ['tenant', 'resource'],
    registers: r,
  });
  const tokenFailures = new Counter({
    name: 'bridgehead_token_failures_total',
    help: 'Token requests Entra refused or that failed, by tenant and kind (configuration, temporary)',
    labelNames: ['tenant', 'kind'],
    registers: r,
  });
  const alerts = new Counter({
    name: 'bridgehead_alerts_total',
    help: 'Anomaly alerts raised, by kind (volume, new-domain, refusals)',
    labelNames: ['kind'],
    registers: r,
  });
  new Gauge({
    name: 'bridgehead_queue_messages',
    help: 'Messages in the spool, by state (active, done, held)',
    labelNames: ['state'],
    registers: r,
    async collect() {
      const s = await queueStats();
      this.set({ state: 'active' }, s.active);
      this.set({ state: 'done' }, s.done);
      this.set({ state: 'held' }, s.held);
    },
  });
  new Gauge({
    name: 'bridgehead_queue_route_messages',
    help: 'Active messages by route',
    labelNames: ['route'],
    registers: r,
    async collect() {
      this.reset();
      for (const [route, v] of Object.entries((await queueStats()).byRoute)) this.set({ route }, v.active);
    },
  });
  new Gauge({
    name: 'bridgehead_queue_oldest_age_seconds',
    help: 'Age of the oldest active message, by route',
    labelNames: ['route'],
    registers: r,
    async collect() {
      this.reset();
      const now = Date.now();
      for (const [route, v] of Object.entries((await queueStats()).byRoute))
        if (v.oldestActiveAt !== null) this.set({ route }, (now - v.oldestActiveAt) / 1000);
    },
  });
  new Gauge({
    name: 'bridgehead_queue_mailbox_messages',
    help: 'Active messages by sending mailbox and whether they wait for its budget (throttled)',
    labelNames: ['mailbox', 'throttled'],
    registers: r,
    async collect() {
      this.reset();
      for (const [mailbox, v] of Object.entries((await queueStats()).byMailbox)) {
        this.set({ mailbox, throttled: 'true' }, v.throttled);
        this.set({ mailbox, throttled: 'false' }, v.active - v.throttled);
      }
    },
  });

  const off = [
    events.on('smtp:session', (e) => sessions.inc({ listener: e.listener, tls: e.tlsVersion ?? 'none' })),
    events.on('smtp:accepted', (e) => {
      accepted.inc({ route: e.route });
      acceptedBytes.inc({ route: e.route }, e.size);
    }),
    events.on('smtp:rejected', (e) => rejected.inc({ phase: e.phase, code: e.enhanced })),
    events.on('smtp:auth', (e) => auth.inc({ method: e.method, result: e.ok ? 'ok' : 'failed' })),
    events.on('smtp:duplicate', () => duplicates.inc()),
    events.on('smtp:repaired', (e) => e.repairs.forEach((repair) => repaired.inc({ repair }))),
    events.on('delivery:attempt', (e) => attempts.inc({ route: e.route, transport: e.transport })),
    events.on('delivery:delivered', (e) => {
      outcomes.inc({ route: e.route, outcome: 'delivered', category: 'delivered' });
      latency.observe({ route: e.route }, e.latencyMs / 1000);
    }),
    events.on('delivery:deferred', (e) =>
      outcomes.inc({ route: e.route, outcome: 'deferred', category: e.category }),
    ),
    events.on('delivery:failed', (e) =>
      outcomes.inc({ route: e.route, outcome: 'failed', category: e.category }),
    ),
    events.on('delivery:throttled', (e) => throttled.inc({ route: e.route })),
    events.on('delivery:slot-wait', (e) => slotWait.observe({ kind: e.kind }, e.waitedMs / 1000)),
    events.on('alert:raised', (e) => alerts.inc({ kind: e.kind })),
    events.on('token:result', (e) => {
      if (e.ok && e.expiresAt !== null)
        tokenExpiry.set({ tenant: e.tenant, resource: e.resource }, e.expiresAt / 1000);
      else tokenFailures.inc({ tenant: e.tenant, kind: e.kind ?? 'temporary' });
    }),
  ];
  return { registry, close: () => off.forEach((f) => f()) };
}
