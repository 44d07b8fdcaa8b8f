import { EventEmitter } from 'node:events';

/**
 * Typed lifecycle events. Core code emits them; metrics, logs and (later) traces and
 * webhooks subscribe, so observability never has to be threaded through the core.
 */
export interface RelayEventMap {
  'smtp:session': { sid: string; listener: string; remoteAddress: string; tlsVersion: string | null };
  'smtp:accepted': {
    sid: string;
    queueId: string;
    size: number;
    recipients: number;
    route: string;
    /** The client rule and login (or address) that sent it. */
    device: string;
    /** Recipient domains, lower case, one per recipient. */
    domains: string[];
  };
  'smtp:rejected': {
    sid: string;
    phase: string;
    code: number;
    enhanced: string;
    remoteAddress: string;
    reply: string;
  };
  'token:result': {
    tenant: string;
    resource: string;
    ok: boolean;
    expiresAt: number | null;
    kind: string | null;
    message: string | null;
  };
  'alert:raised': { kind: string; subject: string; summary: string };
  'smtp:auth': { sid: string; user: string; method: string; ok: boolean };
  'smtp:duplicate': { sid: string; queueId: string };
  'smtp:repaired': { sid: string; queueId: string; repairs: string[] };
  'queue:enqueued': { queueId: string; route: string };
  'delivery:attempt': {
    queueId: string;
    route: string;
    transport: string;
    recipients: number;
    /** The Microsoft 365 mailbox that sends, when the route has one. */
    mailbox: string | null;
  };
  'delivery:throttled': { queueId: string; route: string; mailbox: string; until: number };
  /** A request waited for a concurrency slot other nodes held (kind: graph, smtp). */
  'delivery:slot-wait': { kind: string; waitedMs: number };
  'delivery:delivered': {
    queueId: string;
    route: string;
    transport: string;
    recipient: string;
    latencyMs: number;
  };
  'delivery:deferred': {
    queueId: string;
    route: string;
    transport: string;
    recipient: string;
    reason: string;
    category: string;
  };
  'delivery:failed': {
    queueId: string;
    route: string;
    transport: string;
    recipient: string;
    reason: string;
    category: string;
  };
}

export type RelayEventName = keyof RelayEventMap;

export class RelayEvents {
  readonly #emitter = new EventEmitter();

  constructor() {
    // Each subscriber is a component (metrics, trace, alerts); more than a few is a leak.
    this.#emitter.setMaxListeners(50);
  }

  emit<K extends RelayEventName>(name: K, payload: RelayEventMap[K]): void {
    this.#emitter.emit(name, payload);
  }

  on<K extends RelayEventName>(name: K, listener: (payload: RelayEventMap[K]) => void): () => void {
    this.#emitter.on(name, listener);
    return () => this.#emitter.off(name, listener);
  }

  once<K extends RelayEventName>(name: K): Promise<RelayEventMap[K]> {
    return new Promise((resolve) => this.#emitter.once(name, resolve));
  }
}
