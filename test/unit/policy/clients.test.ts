import assert from 'node:assert/strict';
import { test } from 'node:test';

import { loadConfig } from '../../../src/config/load.ts';
import { type ClientIdentity, ClientPolicy, senderMatches } from '../../../src/policy/clients.ts';
import { DeviceBudgets } from '../../../src/policy/device-budget.ts';
import { MemoryLedger } from '../../../src/scheduler/ledger.ts';

const HASH = `$scrypt$ln=4,r=8,p=1$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(32).toString('base64')}`;

function policy(clients: unknown[], extra: Record<string, unknown> = {}) {
  return new ClientPolicy(
    loadConfig({
      env: {},
      overrides: {
        listeners: [
          { name: 'lan', port: 0 },
          { name: 'legacy', port: 0, host: '127.0.0.2' },
        ],
        users: { scan01: HASH, hr: HASH },
        relay: { internalDomains: ['contoso.com'] },
        clients,
        ...extra,
      },
    }),
  );
}

const who = (over: Partial<ClientIdentity> = {}): ClientIdentity => ({
  listener: 'lan',
  ip: '10.1.2.3',
  user: null,
  certificate: null,
  ...over,
});

test('first matching rule wins; every condition of a rule must hold', () => {
  const p = policy([
    { name: 'hr', match: { users: ['hr'] }, recipients: 'internal' },
    { name: 'printers', match: { addresses: ['10.1.0.0/16'], listeners: ['lan'] } },
    { name: 'any-user', match: { users: ['*'] } },
  ]);
  assert.equal(p.match(who())?.name, 'printers');
  assert.equal(p.match(who({ user: 'hr' }))?.name, 'hr');
  assert.equal(p.match(who({ listener: 'legacy' })), null);
  assert.equal(p.match(who({ listener: 'legacy', user: 'scan01' }))?.name, 'any-user');
  assert.equal(p.match(who({ ip: '192.0.2.1' })), null);
});

test('no rule: 530 when a rule for this place wants a user the client has not given, else 554', () => {
  const p = policy([{ name: 'auth', match: { addresses: ['10.0.0.0/8'], users: ['scan01'] } }]);
  assert.deepEqual(p.decideMail(who(), 'a@contoso.com', 0), { ok: false, reason: 'auth-required' });
  assert.deepEqual(p.decideMail(who({ ip: '192.0.2.1' }), 'a@contoso.com', 0), {
    ok: false,
    reason: 'no-rule',
  });
  // Logged in as the wrong user: authenticating again would not help.
  assert.deepEqual(p.decideMail(who({ user: 'hr' }), 'a@contoso.com', 0), { ok: false, reason: 'no-rule' });
  assert.equal(p.mayConnect('lan', '10.9.9.9'), true);
  assert.equal(p.mayConnect('lan', '192.0.2.1'), false);
});

test('senders: exact, @domain, wildcard and $user; recipients any, internal or domains; size', () => {
  const p = policy([
    {
      name: 'scan',
      match: { users: ['scan01'] },
      senders: ['$user@contoso.com', 'ops@contoso.com'],
      maxSize: '1MB',
    },
    {
      name: 'app',
      match: { addresses: ['10.0.0.0/8'] },
      senders: ['@fabrikam.com', 'erp-*@contoso.com'],
      recipients: ['fabrikam.com'],
    },
  ]);
  const scan = who({ user: 'scan01' });
  assert.equal(p.decideMail(scan, 'scan01@contoso.com', 0).ok, true);
  assert.equal(p.decideMail(scan, 'OPS@Contoso.com', 0).ok, true);
  assert.deepEqual((p.decideMail(scan, 'ceo@contoso.com', 0) as { reason: string }).reason, 'sender');
  assert.equal(p.decideMail(scan, '', 0).ok, true, 'the null sender (bounces) is not a sender to restrict');
  assert.deepEqual(p.decideMail(scan, 'scan01@contoso.com', 2 * 1024 * 1024), {
    ok: false,
    reason: 'size',
    rule: p.rules[0],
    limit: 1024 * 1024,
  });
  const app = p.rules[1]!;
  assert.equal(app.mayUseSender('x@fabrikam.com', null), true);
  assert.equal(app.mayUseSender('erp-7@contoso.com', null), true);
  assert.equal(app.mayUseSender('erp@contoso.com', null), false);
  assert.equal(app.mayReach('a@fabrikam.com'), true);
  assert.equal(app.mayReach('a@contoso.com'), false);
  const internal = policy([{ name: 'i', recipients: 'internal' }]).rules[0]!;
  assert.equal(internal.mayReach('bob@CONTOSO.com'), true);
  assert.equal(internal.mayReach('bob@gmail.com'), false);
});

test('senderMatches never treats pattern text as a regular expression', () => {
  assert.equal(senderMatches('a.b@x.com', 'axb@x.com', null), false);
  assert.equal(senderMatches('*@x.com', 'evil@x.com.attacker.net', null), false);
  assert.equal(senderMatches('$user@x.com', 'anyone@x.com', null), false);
});

test('certificates match by verified name or sha256 fingerprint', () => {
  const p = policy([{ name: 'mfp', match: { certificates: ['mfp1.contoso.com', 'sha256:AB:CD'] } }], {
    listeners: [{ name: 'lan', port: 0, mode: 'starttls', cert: 'c', key: 'k', clientCa: 'ca' }],
  });
  const cert = (names: string[], fingerprint = '00') => who({ certificate: { names, fingerprint } });
  assert.equal(p.match(cert(['mfp1.contoso.com']))?.name, 'mfp');
  assert.equal(p.match(cert(['other'], 'abcd'))?.name, 'mfp');
  assert.equal(p.match(cert(['other'])), null);
  assert.equal(p.match(who()), null);
});

test('config check: unknown routes, users and listeners in rules are reported with their paths', () => {
  assert.throws(
    () =>
      loadConfig({
        env: {},
        overrides: {
          clients: [{ name: 'x', route: 'nope', match: { users: ['ghost'], listeners: ['none'] } }],
        },
      }),
    (err: Error) =>
      /clients\.0\.route: route "nope"/.test(err.message) &&
      /clients\.0\.match\.users: user "ghost"/.test(err.message) &&
      /clients\.0\.match\.listeners: no listener is named "none"/.test(err.message),
  );
});

test('device budgets: messages a minute slide; recipients a day reset at 00:00 UTC', async () => {
  let now = Date.UTC(2026, 10, 22, 23, 59, 0);
  const b = new DeviceBudgets(new MemoryLedger(), () => now);
  const k = DeviceBudgets.key('r', null, '10.0.0.1');
  assert.notEqual(k, DeviceBudgets.key('r', null, '10.0.0.2'));
  assert.equal(DeviceBudgets.key('r', 'Scan', '1.1.1.1'), DeviceBudgets.key('r', 'scan', '2.2.2.2'));
  await b.record(k, 3);
  await b.record(k, 3);
  assert.deepEqual(await b.checkRate(k, 2), { ok: false, limit: 'rate', max: 2 });
  assert.deepEqual(await b.checkRate(k, 3), { ok: true });
  assert.deepEqual(await b.checkRate(k, undefined), { ok: true });
  assert.deepEqual(await b.checkRecipients(k, 7, 0), { ok: true });
  assert.deepEqual(await b.checkRecipients(k, 7, 1), {
    ok: false,
    limit: 'daily',
    max: 7,
    resetsAt: Date.UTC(2026, 10, 23),
  });
  now += 61_000; // next UTC day, and a minute later
  assert.deepEqual(await b.checkRate(k, 2), { ok: true });
  assert.deepEqual(await b.checkRecipients(k, 7, 6), { ok: true });
});
