import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';

import type { FastifyInstance } from 'fastify';

import { buildAdminApp } from './admin/app.ts';
import { AlertService } from './alerts/service.ts';
import type { Config } from './config/schema.ts';
import type { SandboxEndpoint } from './delivery/factory.ts';
import { DeliveryThread } from './delivery/thread-client.ts';
import { RelayError } from './errors.ts';
import { RelayEvents } from './observability/events.ts';
import type { Logger } from './observability/logger.ts';
import { createMetrics } from './observability/metrics.ts';
import { openStore } from './queue/open.ts';
import type { QueueStore } from './queue/store.ts';
import { type Sandbox, startSandbox } from './sandbox/index.ts';
import { loadTenantFile } from './sandbox/tenant.ts';
import { type BoundListener, InboundServer } from './smtp/server.ts';
import { acquireLock } from './util/lock-file.ts';
import { parseDuration } from './util/units.ts';

export interface Relay {
  config: Readonly<Config>;
  store: QueueStore;
  events: RelayEvents;
  listeners: BoundListener[];
  /** The in-process Microsoft 365 sandbox, when a route delivers into it. */
  sandbox: Sandbox | null;
  /** The delivery thread; poke() makes it look for due work now. */
  worker: { poke(): void };
  /** The admin HTTP API (health, metrics, queue), when enabled; `port` is where it listens. */
  admin: { app: FastifyInstance; port: number } | null;
  /** Graceful stop: refuse new sessions, let open ones and deliveries finish within grace, close. */
  stop(graceMs?: number): Promise<void>;
}

export interface RelayOptions {
  log: Logger;
  now?: () => number;
}

/** Composition root: builds every part from the config, starts them in order, stops them in reverse. */
export async function startRelay(config: Readonly<Config>, options: RelayOptions): Promise<Relay> {
  const { log } = options;
  const lock = acquireLock(join(config.relay.dataDir, 'bridgehead.pid'));
  if ('heldBy' in lock) {
    throw new RelayError(
      'ERELAY_STORE_UNAVAILABLE',
      `another Bridgehead process (pid ${lock.heldBy}) is using the spool in ${config.relay.dataDir}`,
    );
  }
  const events = new RelayEvents();
  let store: QueueStore | null = null;
  let inbound: InboundServer | null = null;
  let delivery: DeliveryThread | null = null;
  let sandbox: Sandbox | null = null;
  let admin: FastifyInstance | null = null;
  try {
    // The delivery thread's connection checkpoints the WAL (SQLite).
    store = await openStore(config, { recoverLeases: true, checkpoint: false });
    // Delivery runs in its own thread with its own store connection (see delivery/thread.ts).
    const owner = `${hostname()}:${process.pid}:${Date.now().toString(36)}`;
    if (Object.values(config.routes).some((r) => r.transport.kind === 'sandbox')) {
      sandbox = await startSandbox({
        tenant: config.sandbox.tenant ? loadTenantFile(config.sandbox.tenant) : undefined,
        dir: config.sandbox.dir,
        log: log.child({ component: 'sandbox' }),
      });
    }
    const endpoint = sandbox ? sandboxEndpoint(sandbox) : undefined;
    delivery = await DeliveryThread.start(
      config,
      owner,
      events,
      log.child({ component: 'delivery' }),
      endpoint,
    );
    const worker = delivery;
    events.on('queue:enqueued', () => worker.poke());
    inbound = await InboundServer.start({
      config,
      store,
      events,
      log: log.child({ component: 'smtp' }),
      now: options.now,
    });
    const purgeTimer = startPurge(store, config, log);
    const metrics = createMetrics(events, store);
    const tokenState: Record<string, { ok: boolean; kind: string | null; message: string | null }> = {};
    events.on('token:result', (e) => {
      tokenState[e.tenant] = { ok: e.ok, kind: e.kind, message: e.message };
    });
    const alerts = new AlertService(config, store, events, log.child({ component: 'alerts' }), options.now);
    const bound = inbound;
    let adminPort = 0;
    if (config.admin.enabled) {
      admin = buildAdminApp({
        config,
        store,
        metrics,
        log: log.child({ component: 'admin' }),
        listenersUp: () => ({ up: bound.listeners.length, configured: config.listeners.length }),
        tokens: () => tokenState,
      });
      try {
        await admin.listen({ host: config.admin.host, port: config.admin.port });
      } catch (err) {
        throw new RelayError(
          'ERELAY_LISTEN_FAILED',
          `cannot listen on ${config.admin.host}:${config.admin.port} (admin API): ${(err as Error).message}`,
          { cause: err },
        );
      }
      adminPort = (admin.server.address() as AddressInfo).port;
      log.info({ host: config.admin.host, port: adminPort }, 'admin:listening');
    }
    const openAdmin = admin;

    const openedStore = store;
    const openInbound = inbound;
    const openSandbox = sandbox;
    let stopping: Promise<void> | null = null;
    return {
      config,
      store,
      events,
      listeners: inbound.listeners,
      sandbox,
      worker,
      admin: openAdmin ? { app: openAdmin, port: adminPort } : null,
      stop(graceMs = parseDuration(config.shutdown.grace)) {
        stopping ??= (async () => {
          log.info({ graceMs }, 'relay:stopping');
          clearInterval(purgeTimer);
          await openAdmin?.close();
          metrics.close();
          await openInbound.close(graceMs);
          await alerts.close();
          await worker.stop(graceMs);
          await openSandbox?.stop();
          await openedStore.close();
          lock.release();
          log.info('relay:stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    await admin?.close();
    await inbound?.close(0);
    await delivery?.stop(0);
    await sandbox?.stop();
    await store?.close();
    lock.release();
    throw err;
  }
}

/** What the delivery thread needs to reach the in-process sandbox: ports, CA, and the demo app (first app, first sendable mailbox). */
export function sandboxEndpoint(sandbox: Sandbox): SandboxEndpoint {
  const app = sandbox.tenant.apps[0];
  return {
    host: sandbox.mx.host,
    port: sandbox.mx.port,
    servername: sandbox.mx.name,
    submissionPort: sandbox.submission.port,
    authorityHost: sandbox.http.url,
    tenantId: sandbox.tenant.tenantId,
    clientId: app?.clientId ?? '',
    clientSecret: app?.secrets[0] ?? '',
    mailbox: app?.fullAccess[0] ?? sandbox.tenant.mailboxes[0]?.address ?? '',
    caPem: sandbox.caPem,
  };
}

/** Finished messages stay listed for store.keepDelivered, then are purged hourly. */
function startPurge(store: QueueStore, config: Readonly<Config>, log: Logger): NodeJS.Timeout {
  const keepMs = parseDuration(config.store.keepDelivered);
  const timer = setInterval(() => {
    store.purgeDone(Date.now() - keepMs).then(
      (n) => n > 0 && log.info({ purged: n }, 'queue:purged'),
      (err: unknown) => log.warn({ err }, 'queue:purge-failed'),
    );
  }, 3_600_000);
  timer.unref();
  return timer;
}
