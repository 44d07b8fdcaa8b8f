import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';

import { createTransport } from '../../src/delivery/factory.ts';
import { DeliveryWorker } from '../../src/delivery/worker.ts';
import { sandboxEndpoint } from '../../src/main.ts';
import { RelayEvents } from '../../src/observability/events.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { SqliteQueueStore } from '../../src/queue/sqlite/store.ts';
import { startSandbox } from '../../src/sandbox/index.ts';
import { newQueueId } from '../../src/util/id.ts';
import { tempDir, testConfig, waitFor } from '../helpers/relay.ts';

/**
 * The scheduler against the sandbox's Exchange limits, on one injected clock shared by the
 * delivery worker and the sandbox: minutes pass in milliseconds, no real waiting.
 */
async function rig(
  t: TestContext,
  overrides: Record<string, unknown> = {},
  pool: string[] = [],
  m365 = pool.length > 0,
) {
  let now = Date.now();
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const sb = await startSandbox({ now: clock.now });
  t.after(() => sb.stop());
  for (const m of pool) {
    sb.tenant.mailboxes.push({ ...sb.tenant.mailboxes[1]!, address: m });
    sb.tenant.apps[0]!.fullAccess.push(m);
    sb.tenant.apps[0]!.sendAs.push(m);
  }
  const dir = tempDir('bh-sched-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = SqliteQueueStore.open({ path: join(dir, 'q.db') });
  t.after(() => store.close());
  const log = silentLogger();
  const endpoint = sandboxEndpoint(sb);
  const route = m365
    ? {
        concurrency: 10,
        transport: {
          kind: 'm365' as const,
          tenant: 'demo',
          methods: ['submission' as const],
          mailbox: endpoint.mailbox,
          pool,
          sender: { mode: 'fixed' as const, map: {}, sendAs: [], fromPolicy: 'rewrite' as const },
          submission: {
            host: '127.0.0.1',
            port: endpoint.submissionPort,
            servername: 'smtp.office365.com',
            auth: 'oauth' as const,
            maxConnections: 3,
            maxRecipients: 500,
            maxSize: '35MB',
          },
          graph: { baseUrl: 'https://graph.microsoft.com', saveToSentItems: true },
          mx: { port: 25, tls: 'required' as const },
        },
      }
    : { concurrency: 10, transport: { kind: 'sandbox' as const, method: 'submission' as const } };
  const config = testConfig(
    {
      delivery: { retrySchedule: '1m', maxAge: '5d' },
      ...(m365
        ? {
            routes: { default: route },
            microsoft365: {
              tenants: {
                demo: {
                  tenantId: endpoint.tenantId,
                  clientId: endpoint.clientId,
                  clientSecret: endpoint.clientSecret,
                  acceptedDomains: ['contoso.com'],
                },
              },
            },
          }
        : {}),
      ...overrides,
    },
    dir,
  );
  const { TokenProvider } = await import('../../src/oauth/token-provider.ts');
  const tokens = new TokenProvider({
    tenantId: endpoint.tenantId,
    clientId: endpoint.clientId,
    clientSecret: endpoint.clientSecret,
    authorityHost: endpoint.authorityHost,
    caPem: endpoint.caPem,
  });
  const transport = createTransport(route, {
    heloName: 'relay.test',
    log,
    sandbox: endpoint,
    tokens: () => tokens,
    caPemFor: () => endpoint.caPem,
  });
  t.after(() => transport.close());
  const events = new RelayEvents();
  const worker = new DeliveryWorker({
    config,
    store,
    transports: new Map([['default', transport]]),
    events,
    log,
    owner: 'w1',
    now: clock.now,
  });
  t.after(() => worker.stop(0));
  const enqueue = async (n: number, rcpts = 1) => {
    for (let i = 0; i < n; i++)
      await store.enqueue({
        id: newQueueId(clock.now() + i),
        receivedAt: clock.now(),
        mailFrom: 'mfp-1@contoso.com',
        recipients: Array.from({ length: rcpts }, (_, r) => ({
          address: r === 0 ? 'alice@contoso.com' : `ext${r}@fabrikam.com`,
          notify: null,
          orcpt: null,
        })),
        dsn: { ret: null, envid: null },
        smtputf8: false,
        bodyType: '7bit',
        client: { ip: '10.0.0.7', helo: 'mfp-1', listener: 'lan', user: null, tls: null, rule: 'printers' },
        route: 'default',
        messageIdHeader: null,
        body: Buffer.from(`From: mfp-1@contoso.com\r\nSubject: scan ${i}\r\n\r\npage\r\n`),
        expiresAt: clock.now() + 5 * 86_400_000,
      });
  };
  /** Lets the worker do everything due at the current (fake) time. */
  const settle = async () => {
    worker.poke();
    await waitFor(
      async () => {
        if (worker.busy > 0) return false;
        const due = await store.nextDueAt();
        return due === null || due > clock.now();
      },
      'worker settled',
      30_000,
    );
  };
  return { sb, store, worker, clock, enqueue, settle, events };
}

test('a burst of 1000 messages from one device drains at 30 a minute, with no throttling reply from Exchange', async (t) => {
  const { sb, store, worker, clock, enqueue, settle } = await rig(t);
  await enqueue(1000);
  worker.start();
  const perMinute: number[] = [];
  let delivered = 0;
  while (delivered < 1000 && perMinute.length < 40) {
    await settle();
    const now = (await store.stats()).done;
    perMinute.push(now - delivered);
    delivered = now;
    clock.advance(60_000);
  }
  assert.equal(delivered, 1000);
  assert.ok(
    perMinute.every((n) => n <= 30),
    `never more than 30 in a minute: ${perMinute.join(',')}`,
  );
  assert.deepEqual(perMinute.slice(0, 33), Array(33).fill(30), 'and 30 in every full minute');
  assert.equal(sb.state.trace({ status: 'Pending' }).length, 0, 'nothing carried over by Exchange');
  const histories = await Promise.all((await store.list({ limit: 1000 })).map((m) => store.get(m.id)));
  const replies = histories.flatMap((m) => m!.history.map((h) => h.reply));
  assert.equal(replies.length, 1000, 'one attempt per message: waiting was never an attempt');
  assert.ok(replies.every((r) => r.startsWith('250 ')));
});

test('recipients per 24 hours: the rest waits throttled with the reason, and Exchange never answers 5.2.0', async (t) => {
  const { sb, store, worker, enqueue, settle, clock } = await rig(t, { budgets: { recipientsPerDay: 40 } });
  sb.tenant.limits.recipientsPerDay = 40;
  await enqueue(8, 10); // 80 recipients, 40 a day
  worker.start();
  for (let i = 0; i < 3; i++) {
    await settle();
    clock.advance(60_000);
  }
  const all = await store.list();
  const done = all.filter((m) => m.state === 'done');
  const waiting = all.filter((m) => m.state === 'active');
  assert.equal(done.length, 4);
  assert.equal(waiting.length, 4);
  for (const m of waiting) {
    assert.match(m.throttleReason!, /scanner@contoso\.com reached 40 recipients in 24 hours \(40 sent\)/);
    assert.equal(m.attempts, 0);
    assert.equal(m.mailbox, 'scanner@contoso.com');
  }
  assert.deepEqual((await store.stats()).byMailbox['scanner@contoso.com'], {
    active: 4,
    throttled: 4,
    oldestActiveAt: waiting.at(-1)!.receivedAt,
  });
  const replies = (await Promise.all(done.map((m) => store.get(m.id)))).flatMap((m) =>
    m!.history.map((h) => h.reply),
  );
  assert.ok(
    replies.every((r) => r.startsWith('250 ')),
    replies.join('\n'),
  );
});

test('a pool of mailboxes shares a burst: three service accounts send 90 a minute between them', async (t) => {
  const pool = ['scanner2@contoso.com', 'scanner3@contoso.com'];
  const { sb, store, worker, enqueue, settle, clock } = await rig(t, {}, pool);
  await enqueue(180);
  worker.start();
  const perMinute: number[] = [];
  for (let i = 0; i < 2; i++) {
    const before = (await store.stats()).done;
    await settle();
    perMinute.push((await store.stats()).done - before);
    clock.advance(60_000);
  }
  assert.deepEqual(perMinute, [90, 90]);
  for (const m of ['scanner@contoso.com', ...pool])
    assert.equal(sb.state.folder(m, 'SentItems').length, 60, `${m} sent its share`);
  assert.equal(sb.state.trace({ status: 'Pending' }).length, 0);
});

test('a quota refusal (554 5.2.0) pauses the mailbox: the rest wait without attempts, then resume', async (t) => {
  // One at a time, so what the pause does is visible (messages already in flight when the first
  // refusal comes back cannot be called back).
  const { sb, store, worker, enqueue, settle, clock } = await rig(t, {
    routes: { default: { concurrency: 1, transport: { kind: 'sandbox', method: 'submission' } } },
  });
  sb.tenant.limits.recipientsPerDay = 5; // Exchange's limit is lower than the relay thinks
  await enqueue(12);
  worker.start();
  await settle();
  const attempts = async () =>
    (await Promise.all((await store.list({ limit: 100 })).map((m) => store.get(m.id)))).flatMap(
      (m) => m!.history,
    );
  let history = await attempts();
  assert.equal(history.filter((h) => h.reply.startsWith('250 ')).length, 5);
  assert.equal(
    history.filter((h) => /^554 5\.2\.0/.test(h.reply)).length,
    1,
    'one refusal, then the mailbox stops',
  );
  const waiting = await store.list({ throttled: true });
  assert.equal(waiting.length, 6);
  assert.match(waiting[0]!.throttleReason!, /scanner@contoso\.com paused after: 554 5\.2\.0/);
  // The quota frees up; after the pause everything goes.
  sb.tenant.limits.recipientsPerDay = 10_000;
  clock.advance(61 * 60_000);
  await settle();
  history = await attempts();
  assert.equal((await store.stats()).active, 0);
  assert.equal(history.filter((h) => /^554 5\.2\.0/.test(h.reply)).length, 1, 'no second refusal');
});

test("budgets.externalRecipientsPerDay: a tenant's external recipients are budgeted; internal mail still flows", async (t) => {
  const { store, worker, enqueue, settle } = await rig(
    t,
    { budgets: { externalRecipientsPerDay: 2 } },
    [],
    true,
  );
  await enqueue(3, 2); // alice@contoso.com + one external each
  await enqueue(2, 1); // internal only
  worker.start();
  await settle();
  const all = await store.list();
  const waiting = all.filter((m) => m.state === 'active');
  assert.equal(all.filter((m) => m.state === 'done').length, 4);
  assert.equal(waiting.length, 1);
  assert.match(
    waiting[0]!.throttleReason!,
    /tenant demo \(external recipients\) reached 2 recipients in 24 hours/,
  );
});
