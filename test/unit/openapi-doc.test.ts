import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { openApiDocument } from '../../src/admin/openapi.ts';
import { ROUTES } from '../../src/admin/routes.ts';

test('docs/openapi.json is the description generated from the route table (npm run docs:api)', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  const committed = JSON.parse(
    readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8'),
  ) as unknown;
  assert.deepEqual(
    committed,
    openApiDocument(pkg.version),
    'run `npm run docs:api` after changing src/admin/routes.ts',
  );
});

test('the description marks exactly the health checks as open; every other operation uses the bearer token', () => {
  const doc = openApiDocument('0') as { paths: Record<string, Record<string, { security?: unknown[] }>> };
  const open = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops)
      .filter(([, op]) => Array.isArray(op.security) && op.security.length === 0)
      .map(([method]) => `${method} ${path}`),
  );
  assert.deepEqual(open, ['get /healthz', 'get /readyz']);
  const operations = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
  assert.equal(operations, ROUTES.length);
  assert.ok(doc.paths['/api/v1/queue/{id}/bounce'], 'path parameters in OpenAPI form');
});
