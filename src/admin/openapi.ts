import { ROUTES } from './routes.ts';

/** The OpenAPI 3.1 description of the admin API, generated from the route table. */
export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const path = r.url.replace(/:([a-z]+)/g, '{$1}');
    const params = [
      ...[...r.url.matchAll(/:([a-z]+)/g)].map((m) => ({
        name: m[1],
        in: 'path',
        required: true,
        schema: { type: 'string' },
      })),
      ...Object.entries(r.query ?? {}).map(([name, description]) => ({
        name,
        in: 'query',
        required: false,
        description,
        schema: { type: 'string' },
      })),
    ];
    (paths[path] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary,
      ...(r.auth ? {} : { security: [] }),
      ...(params.length ? { parameters: params } : {}),
      responses: Object.fromEntries(
        Object.entries(r.responses).map(([code, description]) => [code, { description }]),
      ),
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Bridgehead admin API', version },
    servers: [{ url: 'http://127.0.0.1:8025' }],
    components: { securitySchemes: { token: { type: 'http', scheme: 'bearer' } } },
    security: [{ token: [] }],
    paths,
  };
}
