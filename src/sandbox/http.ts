import Fastify, { type FastifyInstance } from 'fastify';

import type { Faults, SandboxContext } from './context.ts';
import { registerGraph } from './graph.ts';
import type { Folder, TraceStatus } from './state.ts';
import { registerTokenEndpoint } from './token-endpoint.ts';
import type { TokenService } from './tokens.ts';

/**
 * One HTTPS server for the sandbox's web roles: the Entra token endpoint and a control API to
 * look inside the tenant (mailboxes, trace) and switch faults on. Served with the sandbox
 * certificate; clients trust the sandbox CA.
 */
export async function startHttp(
  ctx: SandboxContext,
  tokens: TokenService,
  opts: { host: string; port: number },
): Promise<{ app: FastifyInstance; url: string }> {
  // The body limit is far above Graph's 4 MB so that the Graph role can answer oversize
  // requests with Graph's own error instead of a framework one.
  const app = Fastify({
    https: { key: ctx.pki.server.keyPem, cert: ctx.pki.server.certPem },
    logger: false,
    bodyLimit: 200 * 1024 * 1024,
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  );
  let url = '';
  registerTokenEndpoint(app, ctx, tokens, () => url);
  registerGraph(app, ctx, tokens, () => url);

  app.get('/sandbox/mailboxes', async () =>
    ctx.tenant.mailboxes.map((m) => ({ address: m.address, licensed: m.licensed, smtpAuth: m.smtpAuth })),
  );
  app.get<{ Params: { address: string; folder: string } }>(
    '/sandbox/mailboxes/:address/:folder',
    async (req, reply) => {
      const folder =
        req.params.folder.toLowerCase() === 'sentitems'
          ? 'SentItems'
          : req.params.folder.toLowerCase() === 'inbox'
            ? 'Inbox'
            : null;
      if (!folder) return reply.code(404).send({ error: 'folder is Inbox or SentItems' });
      return ctx.state
        .folder(req.params.address, folder as Folder)
        .map(({ raw, ...item }) => ({ ...item, size: raw.length }));
    },
  );
  app.get<{ Params: { id: string } }>('/sandbox/messages/:id', async (req, reply) => {
    const item = ctx.state.item(req.params.id);
    if (!item) return reply.code(404).send({ error: 'no such message' });
    return reply.type('message/rfc822').send(item.raw);
  });
  app.get<{ Querystring: { sender?: string; recipient?: string; status?: TraceStatus } }>(
    '/sandbox/trace',
    async (req) => ctx.state.trace(req.query),
  );
  app.get('/sandbox/faults', async () => ctx.faults);
  app.put<{ Body: Partial<Faults> }>('/sandbox/faults', async (req) =>
    Object.assign(ctx.faults, req.body ?? {}),
  );
  app.post('/sandbox/reset', async () => {
    ctx.state.reset();
    ctx.counters.reset();
    return { ok: true };
  });

  await app.listen({ host: opts.host, port: opts.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  url = `https://${opts.host === '127.0.0.1' ? 'localhost' : opts.host}:${port}`;
  return { app, url };
}
