import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { applyEnvOverrides, loadConfig, redactConfig } from '../../../src/config/load.ts';
import { type RelayError } from '../../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'bh-config-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

test('embedded defaults: 127.0.0.1:2525, spool under ./data, delivery into the sandbox tenant', () => {
  const c = loadConfig({ env: {} });
  assert.equal(c.listeners.length, 1);
  assert.equal(c.listeners[0]!.host, '127.0.0.1');
  assert.equal(c.listeners[0]!.port, 2525);
  assert.equal(c.listeners[0]!.mode, 'plain');
  assert.equal(c.store.path, join(process.cwd(), 'data', 'queue.db'));
  assert.equal(c.routes.default!.transport.kind, 'sandbox');
  assert.equal(c.sandbox.dir, join(process.cwd(), 'data', 'sandbox'));
  assert.deepEqual(c.clients[0]?.match.addresses, ['127.0.0.0/8', '::1']);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.listeners[0]), 'frozen');
});

test('every problem is reported at once, each with its path', () => {
  const f = file(
    'bad.yaml',
    `listeners:\n  - port: 99999\n    mode: starttls\nlimits:\n  maxMessageSize: huge\n  idleTimeout: 5\nrelay:\n  defaultRoute: nowhere\nclients:\n  - name: lan\n    match:\n      addresses: [printers]\nunknownKey: 1\n`,
  );
  assert.throws(
    () => loadConfig({ file: f, env: {} }),
    (err: RelayError & { issues: { path: string }[] }) => {
      assert.equal(err.code, 'ERELAY_CONFIG_INVALID');
      const paths = err.issues.map((i) => i.path);
      for (const p of [
        'listeners.0.port',
        'limits.maxMessageSize',
        'limits.idleTimeout',
        'clients.0.match.addresses.0',
        '',
      ]) {
        assert.ok(paths.includes(p), `missing ${p} in ${paths.join(', ')}`);
      }
      assert.match(err.message, /unknownKey/);
      return true;
    },
  );
});

test('cross-key rules: STARTTLS needs cert and key, the default route must exist', () => {
  const f = file('cross.yaml', `listeners:\n  - mode: starttls\nrelay:\n  defaultRoute: m365\n`);
  assert.throws(
    () => loadConfig({ file: f, env: {} }),
    (err: RelayError & { issues: { path: string; message: string }[] }) =>
      err.issues.some((i) => i.path === 'listeners.0' && /needs both cert and key/.test(i.message)) &&
      err.issues.some((i) => i.path === 'relay.defaultRoute' && /not defined/.test(i.message)),
  );
});

test('precedence: defaults < file < BRIDGEHEAD_SECTION__KEY env < flags', () => {
  const f = file('prec.yaml', `limits:\n  maxRecipients: 20\n  maxMessageSize: 10MB\nlog:\n  level: warn\n`);
  const c = loadConfig({
    file: f,
    env: {
      BRIDGEHEAD_LIMITS__MAX_RECIPIENTS: '30',
      BRIDGEHEAD_LISTENERS__0__PORT: '2600',
      BRIDGEHEAD_LOG__LEVEL: 'debug',
    },
    overrides: { log: { level: 'error', format: undefined } },
  });
  assert.equal(c.limits.maxRecipients, 30, 'env over file, typed as a number');
  assert.equal(c.limits.maxMessageSize, '10MB', 'file over default');
  assert.equal(c.listeners[0]!.port, 2600, 'list items by index');
  assert.equal(c.log.level, 'error', 'flags over env');
  assert.equal(c.log.format, 'auto', 'an undefined flag does not override');
});

test('env overrides create nested route settings with camelCase keys', () => {
  const target: Record<string, unknown> = {};
  applyEnvOverrides(target, {
    BRIDGEHEAD_ROUTES__DEFAULT__TRANSPORT__KIND: 'smtp',
    BRIDGEHEAD_ROUTES__DEFAULT__TRANSPORT__HOST: 'smtp.example.net',
    BRIDGEHEAD_ROUTES__DEFAULT__TRANSPORT__MAX_CONNECTIONS: '3',
    BRIDGEHEAD_CONFIG: '/etc/bridgehead.yaml',
  });
  assert.deepEqual(target, {
    routes: { default: { transport: { kind: 'smtp', host: 'smtp.example.net', maxConnections: 3 } } },
  });
});

test('a secret may come from passFile or the env PASS_FILE form, and is redacted when printed', () => {
  const secretFile = file('smarthost.pass', 'hunter2\n');
  const f = file(
    'secret.yaml',
    `routes:\n  default:\n    transport:\n      kind: smtp\n      host: smtp.example.net\n      auth:\n        user: relay\n        passFile: ${secretFile}\n`,
  );
  const c = loadConfig({ file: f, env: {} });
  const t = c.routes.default!.transport;
  assert.equal(t.kind === 'smtp' && t.auth?.pass, 'hunter2', 'trailing newline removed');
  const printed = JSON.stringify(redactConfig(c));
  assert.ok(!printed.includes('hunter2'));
  assert.match(printed, /"pass":"\[redacted\]"/);

  const viaEnv = loadConfig({
    file: f.replace('secret.yaml', 'secret.yaml'),
    env: { BRIDGEHEAD_ROUTES__DEFAULT__TRANSPORT__AUTH__PASS_FILE: secretFile },
  });
  assert.equal(viaEnv.routes.default!.transport.kind, 'smtp');
  const missing = file(
    'missing.yaml',
    `routes:\n  default:\n    transport:\n      kind: smtp\n      host: h\n      auth:\n        user: u\n        passFile: ${join(dir, 'nope')}\n`,
  );
  assert.throws(
    () => loadConfig({ file: missing, env: {} }),
    /routes\.default\.transport\.auth\.passFile: cannot read secret file/,
  );
});

test('unreadable file and invalid YAML are ERELAY_CONFIG_READ', () => {
  assert.throws(() => loadConfig({ file: join(dir, 'absent.yaml'), env: {} }), {
    code: 'ERELAY_CONFIG_READ',
  });
  assert.throws(() => loadConfig({ file: file('broken.yaml', 'listeners: [\n'), env: {} }), {
    code: 'ERELAY_CONFIG_READ',
  });
  assert.throws(
    () => loadConfig({ file: file('list.yaml', '- a\n- b\n'), env: {} }),
    /mapping at the top level/,
  );
});

test('a bad retry schedule is reported with the position of the bad element', () => {
  const f = file('retry.yaml', `delivery:\n  retrySchedule: "1m,5q,1h"\n`);
  assert.throws(
    () => loadConfig({ file: f, env: {} }),
    /delivery\.retrySchedule: retry schedule element 2 \("5q"\)/,
  );
});

test('listener TLS options that a plain listener cannot honour are reported', () => {
  assert.throws(
    () =>
      loadConfig({
        env: {},
        overrides: { listeners: [{ port: 0, tlsProfile: 'legacy', clientCa: 'ca.pem', requireTls: true }] },
      }),
    (err: Error) =>
      /listeners\.0\.tlsProfile: a TLS profile needs a TLS mode/.test(err.message) &&
      /listeners\.0\.clientCa: client certificates need a TLS mode/.test(err.message) &&
      /listeners\.0\.requireTls: a plain listener cannot require TLS/.test(err.message),
  );
});
