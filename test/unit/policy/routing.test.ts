import assert from 'node:assert/strict';
import { test } from 'node:test';

import { loadConfig } from '../../../src/config/load.ts';
import { routeChooser } from '../../../src/policy/routing.ts';

test('routing rules: first match by client range and/or sender domain, else the default route', () => {
  const capture = { transport: { kind: 'capture', dir: '/tmp/x' } };
  const config = loadConfig({
    env: {},
    overrides: {
      relay: {
        routing: [
          { clients: ['10.1.0.0/16'], senderDomains: ['hr.contoso.com'], route: 'hr' },
          { clients: ['10.1.0.0/16'], route: 'printers' },
          { senderDomains: ['erp.contoso.com'], route: 'erp' },
        ],
      },
      routes: { default: capture, hr: capture, printers: capture, erp: capture },
    },
  });
  const choose = routeChooser(config);
  assert.equal(choose('10.1.2.3', 'payroll@hr.contoso.com'), 'hr');
  assert.equal(choose('10.1.2.3', 'scan@contoso.com'), 'printers');
  assert.equal(choose('192.0.2.5', 'app@ERP.contoso.com'), 'erp');
  assert.equal(choose('192.0.2.5', 'x@contoso.com'), 'default');
  assert.throws(
    () => loadConfig({ env: {}, overrides: { relay: { routing: [{ route: 'nowhere' }] } } }),
    /relay\.routing\.0\.route: route "nowhere" is not defined[\s\S]*relay\.routing\.0: a rule needs clients and\/or senderDomains/,
  );
});
