import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

import { redactConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { bounceNow } from '../dsn/bouncer.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { QUEUE_VIEWS, type QueueStore, TRACE_STATUSES, type TraceStatus } from '../queue/store.ts';
import { tokenName } from './auth.ts';
import { ROUTES, type RouteSpec } from './routes.ts';

export interface AdminDeps {
  config: Readonly<Config>;
  store: QueueStore;
  metrics: Metrics;
  log: Logger;
  /** Listeners bound right now, against those configured (readiness). */
  listenersUp: () => { up: number; configured: number };
  /** The last token outcome per tenant: ok, or why not and whether it is a configuration problem. */
  tokens?: () => Record<string, { ok: boolean; kind: string | null; message: string | null }>;
  now?: () => number;
}

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/**
 * The admin HTTP API (routes.ts lists it). Built without listening: main.ts listens, tests
 * call app.inject(). Every route except the health checks needs an API token.
 */
export function buildAdminApp(deps: AdminDeps): FastifyInstance {
  const app = Fastify({ logger: false, disableRequestLogging: true });
  const { store, config } = deps;
  const now = deps.now ?? Date.now;
  const id = (req: FastifyRequest) => (req.params as { id: string }).id;
  const act = (ok: boolean, reply: FastifyReply, messageId: string) =>
    ok
      ? { id: messageId, ok: true }
      : reply
          .code(404)
          .send({ error: 'not-found', message: `${messageId}: no such message waiting in the queue` });

  const handlers: Record<string, Handler> = {
    'GET /healthz': async () => ({ status: 'ok' }),
    'GET /readyz': async (_req, reply) => {
      const checks: Record<string, string> = {};
      try {
        await store.stats();
        checks.store = 'ok';
      } catch (err) {
        checks.store = (err as Error).message;
      }
      const l = deps.listenersUp();
      checks.listeners = l.up === l.configured ? 'ok' : `${l.up} of ${l.configured} bound`;
      // Mail is still accepted and queued while Entra has a passing outage, so only a token
      // refused for a configuration reason (a wrong secret, a missing permission) makes the
      // relay not ready; a temporary failure is reported but does not.
      let tokensReady = true;
      const failing = Object.entries(deps.tokens?.() ?? {}).filter(([, t]) => !t.ok);
      for (const [, t] of failing) if (t.kind === 'configuration') tokensReady = false;
      checks.tokens = failing.length
        ? failing.map(([tenant, t]) => `${tenant}: ${t.kind} failure: ${t.message}`).join('; ')
        : 'ok';
      const ready = checks.store === 'ok' && checks.listeners === 'ok' && tokensReady;
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', checks });
    },
    'GET /metrics': async (_req, reply) =>
      reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()),
    'GET /api/v1/queue': async (req, reply) => {
      const q = req.query as Record<string, string | undefined>;
      const page = paging(q);
      if (!page || (q.state && !QUEUE_VIEWS[q.state]))
        return reply.code(400).send({
          error: 'bad-query',
          message: `state: ${Object.keys(QUEUE_VIEWS).join('|')}; limit 1-1000; offset >= 0`,
        });
      const messages = await store.list({
        ...(q.state ? QUEUE_VIEWS[q.state] : {}),
        ...(q.sender !== undefined ? { sender: q.sender } : {}),
        ...(q.domain ? { recipientDomain: q.domain } : {}),
        ...(q.route ? { route: q.route } : {}),
        ...page,
      });
      return { messages };
    },
    'GET /api/v1/queue/:id': async (req, reply) =>
      (await store.get(id(req))) ??
      reply.code(404).send({ error: 'not-found', message: `${id(req)}: no such message` }),
    'POST /api/v1/queue/:id/retry': async (req, reply) =>
      act(await store.retryNow(id(req), now()), reply, id(req)),
    'POST /api/v1/queue/:id/hold': async (req, reply) =>
      act(await store.setHeld(id(req), true), reply, id(req)),
    'POST /api/v1/queue/:id/release': async (req, reply) =>
      act(await store.setHeld(id(req), false), reply, id(req)),
    'POST /api/v1/queue/:id/bounce': async (req, reply) =>
      act(await bounceNow(store, config, deps.log, id(req), now), reply, id(req)),
    'DELETE /api/v1/queue/:id': async (req, reply) => act(await store.delete(id(req)), reply, id(req)),
    'GET /api/v1/trace': async (req, reply) => {
      const q = req.query as Record<string, string | undefined>;
      const page = paging(q);
      const since = q.since === undefined ? undefined : Date.parse(q.since);
      const until = q.until === undefined ? undefined : Date.parse(q.until);
      const statuses: readonly string[] = TRACE_STATUSES;
      if (!page || Number.isNaN(since) || Number.isNaN(until) || (q.status && !statuses.includes(q.status)))
        return reply.code(400).send({
          error: 'bad-query',
          message: `status: ${statuses.join('|')}; since/until: ISO times; limit 1-1000`,
        });
      const rows = await store.trace({
        ...(q.sender !== undefined ? { sender: q.sender } : {}),
        ...(q.recipient !== undefined ? { recipient: q.recipient } : {}),
        ...(q.status ? { status: q.status as TraceStatus } : {}),
        ...(since !== undefined ? { since } : {}),
        ...(until !== undefined ? { until } : {}),
        ...(q.messageId ? { messageId: q.messageId } : {}),
        ...(q.ip ? { clientIp: q.ip } : {}),
        ...(q.device ? { device: q.device } : {}),
        ...page,
      });
      return { rows };
    },
    'GET /api/v1/trace/:id': async (req, reply) => {
      const events = await store.traceMessage(id(req));
      return events
        ? { events }
        : reply.code(404).send({ error: 'not-found', message: `${id(req)}: unknown or purged` });
    },
    'GET /api/v1/refusals': async (req, reply) => {
      const q = req.query as Record<string, string | undefined>;
      const page = paging(q);
      const since = q.since === undefined ? undefined : Date.parse(q.since);
      if (!page || Number.isNaN(since))
        return reply.code(400).send({ error: 'bad-query', message: 'since: ISO time; limit 1-1000' });
      return {
        refusals: await store.refusals({
          ...(q.ip ? { ip: q.ip } : {}),
          ...(since !== undefined ? { since } : {}),
          ...page,
        }),
      };
    },
    'GET /api/v1/stats': async () => store.stats(),
    'GET /api/v1/config': async () => redactConfig(config),
  };

  for (const spec of ROUTES) {
    const handler = handlers[`${spec.method} ${spec.url}`];
    if (!handler) throw new Error(`no handler for ${spec.method} ${spec.url}`);
    app.route({ method: spec.method, url: spec.url, preHandler: authFor(spec, deps), handler });
  }
  return app;
}

/** limit (1-1000, default 50) and offset from a query, or null when malformed. */
function paging(q: Record<string, string | undefined>): { limit: number; offset: number } | null {
  const limit = q.limit === undefined ? 50 : Number(q.limit);
  const offset = q.offset === undefined ? 0 : Number(q.offset);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000 || !Number.isInteger(offset) || offset < 0)
    return null;
  return { limit, offset };
}

function authFor(spec: RouteSpec, deps: AdminDeps) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    if (!spec.auth) return;
    const name = tokenName(req.headers.authorization, deps.config.admin.tokens);
    if (name === null) {
      deps.log.warn({ url: req.url, remoteAddress: req.ip }, 'admin:unauthorized');
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'unauthorized', message: 'an API token is required (Authorization: Bearer ...)' });
    }
    if (spec.method !== 'GET')
      deps.log.info({ token: name, method: spec.method, url: req.url }, 'admin:action');
  };
}
