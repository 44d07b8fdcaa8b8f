/**
 * The admin API's routes as data: the app registers its handlers from this table, the OpenAPI
 * description is generated from it (openapi.ts), and a test checks that the app serves
 * exactly these routes and that every one marked `auth` refuses a request without a token.
 */
export interface RouteSpec {
  method: 'GET' | 'POST' | 'DELETE';
  /** Fastify path syntax (`:id`). */
  url: string;
  summary: string;
  /** Needs `Authorization: Bearer <token>`; only the health checks do not. */
  auth: boolean;
  query?: Record<string, string>;
  responses: Record<number, string>;
}

const QUEUE_SELECT = {
  state: 'active | done | held | throttled',
  sender: 'envelope sender',
  domain: 'a recipient domain',
  route: 'route name',
  limit: 'at most this many (default 50, at most 1000)',
  offset: 'skip this many',
};

export const ROUTES: readonly RouteSpec[] = [
  {
    method: 'GET',
    url: '/healthz',
    summary: 'Alive: the process answers',
    auth: false,
    responses: { 200: 'alive' },
  },
  {
    method: 'GET',
    url: '/readyz',
    summary: 'Ready: the spool answers and every listener is bound',
    auth: false,
    responses: { 200: 'ready, with each check', 503: 'not ready, with the failing check' },
  },
  {
    method: 'GET',
    url: '/metrics',
    summary: 'Prometheus metrics (docs/metrics.md)',
    auth: true,
    responses: { 200: 'text exposition format', 401: 'no or unknown token' },
  },
  {
    method: 'GET',
    url: '/api/v1/queue',
    summary: 'Messages, newest first',
    auth: true,
    query: QUEUE_SELECT,
    responses: { 200: '{ messages: [...] }', 400: 'bad query', 401: 'no or unknown token' },
  },
  {
    method: 'GET',
    url: '/api/v1/queue/:id',
    summary: 'One message: envelope, client, recipients, attempt history',
    auth: true,
    responses: { 200: 'the message', 401: 'no or unknown token', 404: 'no such message' },
  },
  ...(['retry', 'hold', 'release', 'bounce'] as const).map((action): RouteSpec => ({
    method: 'POST',
    url: `/api/v1/queue/:id/${action}`,
    summary: {
      retry: 'Make a waiting message due now',
      hold: 'Keep a message in the queue without sending it',
      release: 'Let a held message go again',
      bounce: 'Fail the pending recipients now and send the sender a bounce',
    }[action],
    auth: true,
    responses: { 200: '{ id, ok: true }', 401: 'no or unknown token', 404: 'no such message waiting' },
  })),
  {
    method: 'DELETE',
    url: '/api/v1/queue/:id',
    summary: 'Remove a message (it will not be sent, no bounce)',
    auth: true,
    responses: { 200: '{ id, ok: true }', 401: 'no or unknown token', 404: 'no such message' },
  },
  {
    method: 'GET',
    url: '/api/v1/trace',
    summary: 'Message trace: one row per recipient, newest first',
    auth: true,
    query: {
      sender: 'envelope sender; * is a wildcard',
      recipient: 'recipient; * is a wildcard',
      status: 'Delivered | Pending | Failed | Throttled | Held | Expired',
      since: 'received at or after (ISO time)',
      until: 'received before (ISO time)',
      messageId: 'the Message-ID header',
      ip: "the device's address",
      device: 'client rule or login name',
      limit: 'at most this many (default 50, at most 1000)',
      offset: 'skip this many',
    },
    responses: { 200: '{ rows: [...] }', 400: 'bad query', 401: 'no or unknown token' },
  },
  {
    method: 'GET',
    url: '/api/v1/trace/:id',
    summary:
      'Every event of one message: Receive, Queue, Throttle, Held, Deliver, Defer, Fail, Expire, Bounce, Duplicate',
    auth: true,
    responses: { 200: '{ events: [...] }', 401: 'no or unknown token', 404: 'unknown or purged' },
  },
  {
    method: 'GET',
    url: '/api/v1/refusals',
    summary: 'Refused SMTP commands: client, listener, phase, reply',
    auth: true,
    query: {
      ip: "the device's address",
      since: 'at or after (ISO time)',
      limit: 'default 50',
      offset: 'skip this many',
    },
    responses: { 200: '{ refusals: [...] }', 400: 'bad query', 401: 'no or unknown token' },
  },
  {
    method: 'GET',
    url: '/api/v1/stats',
    summary: 'Queue depth and age by state, route and sending mailbox',
    auth: true,
    responses: { 200: 'the statistics', 401: 'no or unknown token' },
  },
  {
    method: 'GET',
    url: '/api/v1/config',
    summary: 'The effective configuration, secrets redacted',
    auth: true,
    responses: { 200: 'the configuration', 401: 'no or unknown token' },
  },
];
