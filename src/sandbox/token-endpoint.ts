import { randomUUID } from 'node:crypto';

import type { FastifyInstance, FastifyReply } from 'fastify';

import type { SandboxContext } from './context.ts';
import { type Audience, AUDIENCES, type TokenService, verifyClientAssertion } from './tokens.ts';

/**
 * The Entra token endpoint for the client-credentials flow (facts §1.4): client secret or
 * certificate assertion; errors in Entra's JSON shape with their AADSTS numbers.
 */
export function registerTokenEndpoint(
  app: FastifyInstance,
  ctx: SandboxContext,
  tokens: TokenService,
  baseUrl: () => string,
): void {
  const { tenant } = ctx;
  const tenantKeys = new Set(
    [tenant.tenantId, tenant.name, ...tenant.acceptedDomains].map((k) => k.toLowerCase()),
  );

  // MSAL reads the authority's metadata before asking for a token.
  app.get<{ Params: { tenant: string } }>(
    '/:tenant/v2.0/.well-known/openid-configuration',
    async (req, reply) => {
      if (!tenantKeys.has(req.params.tenant.toLowerCase()))
        return aadError(reply, 400, 'invalid_tenant', 90002, `Tenant '${req.params.tenant}' not found.`);
      const base = `${baseUrl()}/${tenant.tenantId}`;
      return {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        issuer: `${baseUrl()}/${tenant.tenantId}/v2.0`,
        jwks_uri: `${base}/discovery/v2.0/keys`,
        response_types_supported: ['code', 'id_token', 'token'],
        token_endpoint_auth_methods_supported: [
          'client_secret_post',
          'private_key_jwt',
          'client_secret_basic',
        ],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        tenant_region_scope: 'EU',
      };
    },
  );

  app.post<{ Params: { tenant: string }; Body: Record<string, string | undefined> }>(
    '/:tenant/oauth2/v2.0/token',
    async (req, reply) => {
      if (ctx.faults.tokenDown)
        return reply.code(503).send({
          error: 'temporarily_unavailable',
          error_description: 'AADSTS90033: A transient error has occurred. Please try again.',
        });
      if (!tenantKeys.has(req.params.tenant.toLowerCase()))
        return aadError(
          reply,
          400,
          'invalid_request',
          90002,
          `Tenant '${req.params.tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
        );
      const body = req.body ?? {};
      if (body.grant_type !== 'client_credentials')
        return aadError(
          reply,
          400,
          'unsupported_grant_type',
          70003,
          `The app requested an unsupported grant type '${body.grant_type ?? ''}'.`,
        );
      const app_ = tenant.apps.find((a) => a.clientId === body.client_id);
      if (!app_)
        return aadError(
          reply,
          400,
          'unauthorized_client',
          700016,
          `Application with identifier '${body.client_id ?? ''}' was not found in the directory '${tenant.name}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`,
        );
      const audience = scopeAudience(body.scope);
      if (!audience)
        return aadError(
          reply,
          400,
          'invalid_scope',
          1002012,
          `The provided value for scope ${body.scope ?? ''} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
        );
      if (body.client_assertion) {
        if (body.client_assertion_type !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
          return aadError(reply, 400, 'invalid_request', 50027, 'Invalid client_assertion_type.');
        const v = verifyClientAssertion(body.client_assertion, {
          clientId: app_.clientId,
          tokenEndpoint: `${baseUrl()}/${req.params.tenant}/oauth2/v2.0/token`,
          certificates: app_.certificates,
          now: ctx.now(),
        });
        if (!v.ok) return aadError(reply, 401, 'invalid_client', v.code, v.reason);
      } else if (!body.client_secret || !app_.secrets.includes(body.client_secret)) {
        return aadError(
          reply,
          401,
          'invalid_client',
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app_.clientId}'.`,
        );
      }
      // Roles come from admin consent: only the permissions of this resource are put in the token.
      const roles = app_.permissions.filter((p) =>
        audience === AUDIENCES.exchange ? p === 'SMTP.SendAsApp' : p.startsWith('Mail.'),
      );
      const issued = tokens.issue({
        tenantId: tenant.tenantId,
        appId: app_.clientId,
        objectId: app_.objectId ?? app_.clientId,
        audience,
        roles,
      });
      return {
        token_type: 'Bearer',
        expires_in: issued.expiresIn,
        ext_expires_in: issued.expiresIn,
        access_token: issued.token,
      };
    },
  );
}

function scopeAudience(scope: string | undefined): Audience | null {
  const s = (scope ?? '').trim();
  if (s === `${AUDIENCES.exchange}/.default`) return AUDIENCES.exchange;
  if (s === `${AUDIENCES.graph}/.default`) return AUDIENCES.graph;
  return null;
}

/** Entra's error body: error, error_description ending in trace and correlation ids, error_codes, ... */
export function aadError(
  reply: FastifyReply,
  status: number,
  error: string,
  code: number,
  text: string,
): FastifyReply {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return reply.code(status).send({
    error,
    error_description: `AADSTS${code}: ${text} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp.replace('T', ' ')}`,
    error_codes: [code],
    timestamp: timestamp.replace('T', ' '),
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  });
}
