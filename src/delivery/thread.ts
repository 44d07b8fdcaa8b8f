import { parentPort, workerData } from 'node:worker_threads';

import type { Config } from '../config/schema.ts';
import { tokenProvidersFromConfig } from '../oauth/providers.ts';
import type { TokenResult } from '../oauth/token-provider.ts';
import { type RelayEventName, RelayEvents } from '../observability/events.ts';
import { createLogger } from '../observability/logger.ts';
import { openStore } from '../queue/open.ts';
import { LocalSlots, SharedSlots } from '../scheduler/slots.ts';
import { createTransport, type SandboxEndpoint } from './factory.ts';
import { GRAPH_CONCURRENCY_PER_APP } from './graph.ts';
import type { Transport } from './transport.ts';
import { DeliveryWorker } from './worker.ts';

/**
 * The delivery side in its own thread: its own store connection, transports and worker.
 * It shares nothing with the SMTP thread but the spool, so accepting mail and sending it use
 * both cores and a slow upstream never delays a device's 250.
 */
export interface DeliveryThreadData {
  config: Readonly<Config>;
  owner: string;
  sandbox?: SandboxEndpoint;
}

export type ToDelivery = { type: 'poke' } | { type: 'stop'; graceMs: number };
export type FromDelivery =
  | { type: 'ready' }
  | { type: 'event'; name: RelayEventName; payload: unknown }
  | { type: 'stopped' }
  | { type: 'fatal'; message: string };

const port = parentPort!;
const { config, owner, sandbox } = workerData as DeliveryThreadData;
const log = createLogger({
  level: config.log.level,
  format: config.log.format === 'pretty' ? 'pretty' : 'json',
}).child({
  component: 'delivery',
});

// The main thread recovered leases once, before this thread started.
const store = await openStore(config);
const transports = new Map<string, Transport>();
const events = new RelayEvents();
const onToken = (tenant: string, r: TokenResult) =>
  events.emit('token:result', {
    tenant,
    resource: new URL(r.scope).host,
    ok: r.ok,
    expiresAt: r.ok ? r.expiresAt : null,
    kind: r.ok ? null : r.kind,
    message: r.ok ? null : r.message,
  });
const { tokens, caPemFor } = tokenProvidersFromConfig(config, onToken);
// Graph's four requests at once per app hold for the whole cluster when the queue is shared.
const ledger = store.ledger();
const onSlotWait = (key: string, waitedMs: number) =>
  events.emit('delivery:slot-wait', { kind: key.split(':')[0]!, waitedMs });
const graphSlots = ledger.shared
  ? new SharedSlots(ledger, GRAPH_CONCURRENCY_PER_APP, { onWait: onSlotWait })
  : new LocalSlots(GRAPH_CONCURRENCY_PER_APP);
for (const [name, route] of Object.entries(config.routes)) {
  transports.set(
    name,
    createTransport(route, {
      heloName: config.relay.hostname!,
      log: log.child({ route: name }),
      dnsServers: config.dns.servers,
      sandbox,
      tokens,
      caPemFor,
      onToken,
      graphSlots,
      ...(ledger.shared ? { sharedLedger: ledger, onSlotWait } : {}),
    }),
  );
}
for (const name of [
  'delivery:attempt',
  'delivery:delivered',
  'delivery:deferred',
  'delivery:failed',
  'delivery:throttled',
  'delivery:slot-wait',
  'token:result',
] as const) {
  events.on(name, (payload) => port.postMessage({ type: 'event', name, payload } satisfies FromDelivery));
}
const worker = new DeliveryWorker({ config, store, transports, events, log, owner });
// Mail accepted by another node (a shared PostgreSQL queue) wakes this one at once.
const unsubscribe = store.subscribe ? await store.subscribe(() => worker.poke()) : null;

port.on('message', (msg: ToDelivery) => {
  if (msg.type === 'poke') worker.poke();
  else if (msg.type === 'stop') {
    void (async () => {
      await worker.stop(msg.graceMs);
      await unsubscribe?.();
      await Promise.all([...transports.values()].map((t) => t.close()));
      await store.close();
      port.postMessage({ type: 'stopped' } satisfies FromDelivery);
    })();
  }
});

worker.start();
port.postMessage({ type: 'ready' } satisfies FromDelivery);
