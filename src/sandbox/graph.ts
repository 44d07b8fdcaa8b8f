import { randomUUID } from 'node:crypto';

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { normaliseIp } from '../util/address.ts';
import { parseSize } from '../util/units.ts';
import { type SandboxContext, seededRandom } from './context.ts';
import {
  composeJson,
  decodeMimeBase64,
  type GraphJsonMessage,
  recipientsOf,
  withAttachments,
  withoutBcc,
} from './graph-mime.ts';
import { type App, findMailbox, isAccepted, type Mailbox } from './tenant.ts';
import { AUDIENCES, type TokenService } from './tokens.ts';

interface Draft {
  id: string;
  mailbox: string;
  raw: Buffer;
  attachments: { name: string; contentType: string; data: Buffer }[];
}

interface Upload {
  draft: Draft;
  name: string;
  contentType: string;
  size: number;
  data: Buffer;
}

/**
 * Microsoft Graph's mail sending (facts §5): sendMail with JSON or base64 MIME, the draft +
 * upload session path for large mail, the errors Graph answers with, and 429 with Retry-After
 * when an app has more than four requests in flight.
 */
export function registerGraph(
  app: FastifyInstance,
  ctx: SandboxContext,
  tokens: TokenService,
  baseUrl: () => string,
): void {
  const inFlight = new Map<string, number>();
  const random = seededRandom(ctx.faults.seed + 2);
  const drafts = new Map<string, Draft>();
  const uploads = new Map<string, Upload>();
  const { tenant } = ctx;

  const graphError = (reply: FastifyReply, status: number, code: string, message: string) =>
    reply.code(status).send({
      error: {
        code,
        message,
        innerError: { date: new Date().toISOString(), 'request-id': reply.getHeader('request-id') },
      },
    });

  /** Token, app, mailbox and permission checks shared by every mail route; replies itself on failure. */
  const authorise = (
    req: FastifyRequest<{ Params: { id: string } }>,
    reply: FastifyReply,
    permission: 'Mail.Send' | 'Mail.ReadWrite',
  ): { app: App; mailbox: Mailbox } | null => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token)
      return (void graphError(reply, 401, 'InvalidAuthenticationToken', 'Access token is empty.'), null);
    const v = tokens.verifyAccessToken(token, AUDIENCES.graph, tenant.tenantId);
    if (!v.ok)
      return (
        void graphError(
          reply,
          401,
          'InvalidAuthenticationToken',
          `Access token validation failure. ${v.reason}.`,
        ),
        null
      );
    const app_ = tenant.apps.find((a) => a.clientId === v.appid);
    if (!app_ || !v.roles.includes(permission))
      return (
        void graphError(
          reply,
          403,
          'ErrorAccessDenied',
          'Access is denied. Check credentials and try again.',
        ),
        null
      );
    const mailbox = findMailbox(tenant, decodeURIComponent(req.params.id));
    if (!mailbox)
      return (
        void graphError(reply, 404, 'ErrorInvalidUser', `The requested user '${req.params.id}' is invalid.`),
        null
      );
    if (!mailbox.licensed)
      return (
        void graphError(
          reply,
          404,
          'MailboxNotEnabledForRESTAPI',
          'REST API is not yet supported for this mailbox.',
        ),
        null
      );
    return { app: app_, mailbox };
  };

  /** At most `graphConcurrentRequests` requests per app in flight; the next one gets 429. */
  const throttled = (appId: string, reply: FastifyReply): boolean => {
    const n = inFlight.get(appId) ?? 0;
    if (n >= tenant.limits.graphConcurrentRequests) {
      reply.header('Retry-After', '1');
      graphError(reply, 429, 'ApplicationThrottled', 'Application is over its MailboxConcurrency limit.');
      return true;
    }
    inFlight.set(appId, n + 1);
    let done = false;
    const release = () => {
      if (done) return;
      done = true;
      inFlight.set(appId, (inFlight.get(appId) ?? 1) - 1);
    };
    // Released when the response is handed over (onSend below), not when its bytes have
    // left: otherwise a client that got its answer could be counted twice for a moment.
    releases.set(reply, release);
    reply.raw.once('close', release);
    return false;
  };
  const releases = new WeakMap<FastifyReply, () => void>();
  app.addHook('onSend', async (_req, reply, payload) => {
    releases.get(reply)?.();
    return payload;
  });

  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/v1.0/')) return;
    const requestId = randomUUID();
    reply.header('request-id', requestId);
    reply.header('client-request-id', req.headers['client-request-id'] ?? requestId);
    // A request counts against its app's concurrency from its first byte to its last, as in
    // Graph, so the check runs before the body is read. Bad tokens are left to the route.
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const v = token ? tokens.verifyAccessToken(token, AUDIENCES.graph, tenant.tenantId) : null;
    if (v?.ok && ctx.faults.graphThrottleRatio > 0 && random() < ctx.faults.graphThrottleRatio) {
      reply.header('Retry-After', '2');
      return graphError(
        reply,
        429,
        'ApplicationThrottled',
        'Application is over its MailboxConcurrency limit.',
      );
    }
    if (v?.ok && throttled(v.appid, reply)) return reply;
  });

  const readMessage = async (
    req: FastifyRequest,
    reply: FastifyReply,
    sender: string,
  ): Promise<{ raw: Buffer; saveToSentItems: boolean } | null> => {
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > tenant.limits.graphRequestBytes)
      return (
        void graphError(reply, 413, 'RequestBodyTooLarge', 'The maximum request length supported is 4MB.'),
        null
      );
    if ((req.headers['content-type'] ?? '').startsWith('text/plain')) {
      const raw = decodeMimeBase64(String(req.body ?? ''));
      if (!raw)
        return (
          void graphError(
            reply,
            400,
            'ErrorMimeContentInvalidBase64String',
            'Invalid base64 string for MIME content.',
          ),
          null
        );
      return { raw, saveToSentItems: true };
    }
    const body = (req.body ?? {}) as {
      message?: GraphJsonMessage;
      saveToSentItems?: boolean;
    } & GraphJsonMessage;
    const message = body.message ?? body;
    return { raw: await composeJson(message, sender), saveToSentItems: body.saveToSentItems !== false };
  };

  /** Sends as Exchange does: SendAs check on From, recipients from the headers, Bcc delivered but not shown. */
  const submit = (
    reply: FastifyReply,
    ip: string,
    who: { app: App; mailbox: Mailbox },
    raw: Buffer,
    saveToSentItems: boolean,
  ) => {
    if (raw.length > parseSize(who.mailbox.maxSendSize))
      return graphError(
        reply,
        400,
        'ErrorMessageSizeExceeded',
        'The message exceeds the maximum supported size.',
      );
    const r = recipientsOf(raw);
    const fromOk =
      !r.from ||
      r.from.toLowerCase() === who.mailbox.address.toLowerCase() ||
      [...who.mailbox.sendAs, ...who.app.sendAs].some((s) => s.toLowerCase() === r.from!.toLowerCase());
    if (!fromOk)
      return graphError(
        reply,
        403,
        'ErrorSendAsDenied',
        'The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account. Cannot submit message.',
      );
    const all = [...new Set([...r.to, ...r.cc, ...r.bcc])];
    if (all.length === 0)
      return graphError(
        reply,
        400,
        'ErrorInvalidRecipients',
        "At least one recipient is not valid., A message can't be sent because it contains no recipients.",
      );
    const delivered = withoutBcc(raw);
    ctx.state.accept({
      via: 'graph',
      fromIp: ip,
      envelopeFrom: who.mailbox.address,
      recipients: all.map((a) => ({ address: a, local: isAccepted(tenant, a) })),
      raw: delivered,
      now: ctx.now(),
    });
    if (saveToSentItems)
      ctx.state.accept({
        via: 'graph',
        fromIp: ip,
        envelopeFrom: who.mailbox.address,
        recipients: [],
        raw,
        sender: who.mailbox.address,
        now: ctx.now(),
      });
    return reply.code(202).send();
  };

  app.post<{ Params: { id: string } }>('/v1.0/users/:id/sendMail', async (req, reply) => {
    const who = authorise(req, reply, 'Mail.Send');
    if (!who) return reply;
    const msg = await readMessage(req, reply, who.mailbox.address);
    if (!msg) return reply;
    if (ctx.faults.graphDelayMs > 0) await new Promise((r) => setTimeout(r, ctx.faults.graphDelayMs));
    return submit(reply, normaliseIp(req.ip), who, msg.raw, msg.saveToSentItems);
  });

  // Large mail (facts §5): a draft, an upload session per attachment, ranged PUTs, then send.
  app.post<{ Params: { id: string } }>('/v1.0/users/:id/messages', async (req, reply) => {
    const who = authorise(req, reply, 'Mail.ReadWrite');
    if (!who) return reply;
    const msg = await readMessage(req, reply, who.mailbox.address);
    if (!msg) return reply;
    const draft: Draft = { id: randomUUID(), mailbox: who.mailbox.address, raw: msg.raw, attachments: [] };
    drafts.set(draft.id, draft);
    return reply.code(201).send({ id: draft.id, isDraft: true, subject: null });
  });

  app.post<{
    Params: { id: string; mid: string };
    Body: { AttachmentItem?: { name?: string; size?: number; contentType?: string } };
  }>('/v1.0/users/:id/messages/:mid/attachments/createUploadSession', async (req, reply) => {
    const who = authorise(req, reply, 'Mail.ReadWrite');
    if (!who) return reply;
    const draft = drafts.get(req.params.mid);
    if (!draft || draft.mailbox !== who.mailbox.address)
      return graphError(reply, 404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    const item = req.body?.AttachmentItem ?? {};
    if (!item.name || !item.size)
      return graphError(reply, 400, 'ErrorInvalidRequest', 'AttachmentItem needs name and size.');
    const token = randomUUID();
    uploads.set(token, {
      draft,
      name: item.name,
      contentType: item.contentType ?? 'application/octet-stream',
      size: item.size,
      data: Buffer.alloc(0),
    });
    return reply.code(201).send({
      uploadUrl: `${baseUrl()}/upload/${token}`,
      expirationDateTime: new Date(ctx.now() + 86_400_000).toISOString(),
      nextExpectedRanges: ['0-'],
    });
  });

  // The upload URL is pre-authenticated: no bearer token, as in Graph.
  app.put<{ Params: { token: string } }>('/upload/:token', async (req, reply) => {
    const up = uploads.get(req.params.token);
    if (!up) return graphError(reply, 404, 'ErrorItemNotFound', 'Upload session not found.');
    const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(req.headers['content-range'] ?? ''));
    const chunk = req.body as Buffer;
    if (
      !range ||
      Number(range[1]) !== up.data.length ||
      Number(range[3]) !== up.size ||
      Number(range[2]) - Number(range[1]) + 1 !== chunk.length
    )
      return graphError(
        reply,
        416,
        'InvalidRange',
        `Expected a range starting at ${up.data.length} of ${up.size} bytes.`,
      );
    if (chunk.length > tenant.limits.graphRequestBytes)
      return graphError(reply, 413, 'RequestBodyTooLarge', 'The maximum request length supported is 4MB.');
    up.data = Buffer.concat([up.data, chunk]);
    if (up.data.length < up.size)
      return reply.code(200).send({
        expirationDateTime: new Date(ctx.now() + 86_400_000).toISOString(),
        nextExpectedRanges: [`${up.data.length}-`],
      });
    up.draft.attachments.push({ name: up.name, contentType: up.contentType, data: up.data });
    uploads.delete(req.params.token);
    return reply.code(201).send();
  });

  app.post<{ Params: { id: string; mid: string } }>(
    '/v1.0/users/:id/messages/:mid/send',
    async (req, reply) => {
      const who = authorise(req, reply, 'Mail.Send');
      if (!who) return reply;
      const draft = drafts.get(req.params.mid);
      if (!draft || draft.mailbox !== who.mailbox.address)
        return graphError(
          reply,
          404,
          'ErrorItemNotFound',
          'The specified object was not found in the store.',
        );
      drafts.delete(draft.id);
      return submit(reply, normaliseIp(req.ip), who, withAttachments(draft.raw, draft.attachments), true);
    },
  );
}
