import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { NewMessage, QueueStore } from '../../src/queue/store.ts';
import { newQueueId } from '../../src/util/id.ts';

export interface StoreFactory {
  name: string;
  /** A fresh, empty store; `reopen` opens the same data again (restart). */
  create(): Promise<{ store: QueueStore; reopen(): Promise<QueueStore>; cleanup(): Promise<void> }>;
}

const T0 = 1_800_000_000_000;

export function message(overrides: Partial<NewMessage> = {}): NewMessage {
  return {
    id: newQueueId(T0),
    receivedAt: T0,
    mailFrom: 'device@example.com',
    recipients: [
      { address: 'a@example.net', notify: ['FAILURE'], orcpt: 'rfc822;a@example.net' },
      { address: 'b@example.net', notify: null, orcpt: null },
    ],
    dsn: { ret: 'HDRS', envid: 'E1' },
    smtputf8: false,
    bodyType: '8bitmime',
    client: { ip: '10.0.0.7', helo: 'mfp.lan', listener: 'lan', user: null, tls: 'TLSv1.2' },
    route: 'default',
    messageIdHeader: '<m1@example.com>',
    body: Buffer.from('Subject: t\r\n\r\nbody\r\n'),
    expiresAt: T0 + 86_400_000,
    ...overrides,
  };
}

/**
 * The behaviour every QueueStore must show. Runs unchanged against each backend; a new
 * backend is done when this suite passes against it.
 */
export function storeContract(factory: StoreFactory): void {
  const it = (name: string, fn: (store: QueueStore, reopen: () => Promise<QueueStore>) => Promise<void>) =>
    test(`${factory.name}: ${name}`, async (t) => {
      const { store, reopen, cleanup } = await factory.create();
      let current = store;
      t.after(async () => {
        await current.close();
        await cleanup();
      });
      await fn(store, async () => {
        await current.close();
        current = await reopen();
        return current;
      });
    });

  it('enqueue keeps the envelope, DSN parameters, client and body', async (store) => {
    const m = message();
    await store.enqueue(m);
    const got = await store.get(m.id);
    assert.ok(got);
    assert.equal(got.mailFrom, 'device@example.com');
    assert.deepEqual(got.dsn, { ret: 'HDRS', envid: 'E1' });
    assert.deepEqual(got.client, m.client);
    assert.equal(got.bodyType, '8bitmime');
    assert.equal(got.size, m.body.length);
    assert.equal(got.state, 'active');
    assert.deepEqual(
      got.recipients.map((r) => [r.address, r.state, r.notify, r.orcpt]),
      [
        ['a@example.net', 'queued', ['FAILURE'], 'rfc822;a@example.net'],
        ['b@example.net', 'queued', null, null],
      ],
    );
    assert.deepEqual(await store.readBody(m.id), m.body);
    assert.equal(await store.get('nope'), null);
  });

  it('a body comes back byte for byte: every octet value, and megabytes of it', async (store) => {
    const body = Buffer.alloc(3 * 1024 * 1024 + 7, 0);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >> 10)) & 0xff;
    const m = message({ body });
    await store.enqueue(m);
    const back = await store.readBody(m.id);
    assert.equal(back.length, body.length);
    assert.ok(back.equals(body));
  });

  it('the null sender is kept as the empty string', async (store) => {
    const m = message({ mailFrom: '' });
    await store.enqueue(m);
    assert.equal((await store.get(m.id))!.mailFrom, '');
  });

  it('many concurrent enqueues are all durable across a reopen', async (store, reopen) => {
    const ids = Array.from({ length: 60 }, (_, i) => newQueueId(T0 + i));
    await Promise.all(ids.map((id) => store.enqueue(message({ id }))));
    const again = await reopen();
    assert.equal((await again.stats()).active, 60);
  });

  it('claims lease due messages to one owner; others get them only after the lease expires', async (store) => {
    const due = message();
    const later = message({ id: newQueueId(T0 + 1) });
    await store.enqueue(due);
    await store.enqueue(later);
    await store.retryNow(later.id, T0 + 60_000);
    const first = await store.claimDue('w1', { now: T0, limit: 10, leaseMs: 1000 });
    assert.deepEqual(
      first.map((m) => m.id),
      [due.id],
    );
    assert.equal(first[0]!.leaseOwner, 'w1');
    assert.equal(first[0]!.leaseUntil, T0 + 1000);
    assert.deepEqual(await store.claimDue('w2', { now: T0 + 500, limit: 10, leaseMs: 1000 }), []);
    const taken = await store.claimDue('w2', { now: T0 + 1001, limit: 10, leaseMs: 1000 });
    assert.deepEqual(
      taken.map((m) => m.id),
      [due.id],
      'expired lease is taken over',
    );
    // The first owner's late report is ignored: the new owner decides.
    await store.recordAttempt({
      messageId: due.id,
      owner: 'w1',
      startedAt: T0,
      durationMs: 5,
      transport: 'smtp',
      upstream: null,
      results: taken[0]!.recipients.map((r) => ({
        recipientId: r.id,
        outcome: 'delivered',
        reply: '250 ok',
        category: 'delivered',
      })),
      nextAttemptAt: T0,
    });
    assert.equal((await store.get(due.id))!.state, 'active');
  });

  it('claims honour the limit and the route filter, oldest due first', async (store) => {
    for (let i = 0; i < 3; i++)
      await store.enqueue(
        message({ id: newQueueId(T0 + i), receivedAt: T0 + i, route: i === 1 ? 'graph' : 'default' }),
      );
    const one = await store.claimDue('w', { now: T0 + 10, limit: 1, leaseMs: 1000, routes: ['default'] });
    assert.equal(one.length, 1);
    assert.equal(one[0]!.route, 'default');
    const graph = await store.claimDue('w', { now: T0 + 10, limit: 5, leaseMs: 1000, routes: ['graph'] });
    assert.deepEqual(
      graph.map((m) => m.route),
      ['graph'],
    );
  });

  it('a partial attempt keeps the message active for the pending recipients only', async (store) => {
    const m = message();
    await store.enqueue(m);
    const [c] = await store.claimDue('w', { now: T0, limit: 1, leaseMs: 1000 });
    const [a, b] = c!.recipients;
    await store.recordAttempt({
      messageId: m.id,
      owner: 'w',
      startedAt: T0,
      durationMs: 20,
      transport: 'smtp',
      upstream: 'smtp.example.net:587',
      results: [
        { recipientId: a!.id, outcome: 'delivered', reply: '250 2.0.0 OK', category: 'delivered' },
        { recipientId: b!.id, outcome: 'deferred', reply: '451 4.7.1 later', category: 'temporary' },
      ],
      nextAttemptAt: T0 + 60_000,
    });
    const got = (await store.get(m.id))!;
    assert.equal(got.state, 'active');
    assert.equal(got.attempts, 1);
    assert.equal(got.nextAttemptAt, T0 + 60_000);
    assert.equal(got.lastReply, '451 4.7.1 later');
    assert.deepEqual(
      got.recipients.map((r) => r.state),
      ['delivered', 'deferred'],
    );
    assert.deepEqual(
      got.history.map((h) => [h.outcome, h.upstream, h.reply]),
      [
        ['delivered', 'smtp.example.net:587', '250 2.0.0 OK'],
        ['deferred', 'smtp.example.net:587', '451 4.7.1 later'],
      ],
    );
    assert.equal(await store.nextDueAt(), T0 + 60_000);
    assert.deepEqual(
      await store.claimDue('w', { now: T0 + 1000, limit: 1, leaseMs: 1000 }),
      [],
      'not due yet',
    );
    const [again] = await store.claimDue('w', { now: T0 + 60_000, limit: 1, leaseMs: 1000 });
    await store.recordAttempt({
      messageId: m.id,
      owner: 'w',
      startedAt: T0 + 60_000,
      durationMs: 5,
      transport: 'smtp',
      upstream: null,
      results: [
        {
          recipientId: again!.recipients[1]!.id,
          outcome: 'failed',
          reply: '550 5.1.1 unknown',
          category: 'rejected',
        },
      ],
      nextAttemptAt: T0 + 120_000,
    });
    const done = (await store.get(m.id))!;
    assert.equal(done.state, 'done');
    assert.deepEqual(
      done.recipients.map((r) => r.state),
      ['delivered', 'failed'],
    );
    assert.equal(await store.nextDueAt(), null);
    await assert.rejects(store.readBody(m.id), { code: 'ERELAY_MESSAGE_NOT_FOUND' });
  });

  it('releaseLease returns a message at once; retryNow makes it due; delete removes it', async (store) => {
    const m = message();
    await store.enqueue(m);
    await store.claimDue('w', { now: T0, limit: 1, leaseMs: 60_000 });
    await store.releaseLease(m.id, 'other-owner');
    assert.deepEqual(
      await store.claimDue('x', { now: T0 + 1, limit: 1, leaseMs: 1 }),
      [],
      'only the owner releases',
    );
    await store.releaseLease(m.id, 'w');
    assert.equal((await store.claimDue('x', { now: T0 + 1, limit: 1, leaseMs: 1 })).length, 1);
    assert.equal(await store.retryNow(m.id, T0 + 5), true);
    assert.equal(await store.retryNow('missing', T0), false);
    assert.equal(await store.delete(m.id), true);
    assert.equal(await store.delete(m.id), false);
    assert.equal(await store.get(m.id), null);
  });

  it('list filters and pages newest first; stats count by state and route; purge removes old done', async (store) => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const id = newQueueId(T0 + i);
      ids.push(id);
      await store.enqueue(message({ id, receivedAt: T0 + i, route: i % 2 ? 'graph' : 'default' }));
    }
    const [c] = await store.claimDue('w', { now: T0 + 10, limit: 1, leaseMs: 1000, routes: ['default'] });
    await store.recordAttempt({
      messageId: c!.id,
      owner: 'w',
      startedAt: T0 + 10,
      durationMs: 1,
      transport: 'smtp',
      upstream: null,
      results: c!.recipients.map((r) => ({
        recipientId: r.id,
        outcome: 'delivered',
        reply: '250',
        category: 'delivered',
      })),
      nextAttemptAt: T0,
    });
    assert.deepEqual(
      (await store.list()).map((m) => m.id),
      [...ids].reverse(),
    );
    assert.deepEqual(
      (await store.list({ limit: 2, offset: 1 })).map((m) => m.id),
      [ids[2], ids[1]],
    );
    assert.equal((await store.list({ state: 'done' })).length, 1);
    assert.equal((await store.list({ route: 'graph' })).length, 2);
    const s = await store.stats();
    assert.equal(s.active, 3);
    assert.equal(s.done, 1);
    assert.equal(s.recipients.delivered, 2);
    assert.equal(s.recipients.queued, 6);
    assert.equal(s.byRoute.graph!.active, 2);
    assert.equal(s.oldestActiveAt, T0 + 1);
    assert.equal(await store.purgeDone(T0), 0, 'finished after the cut-off');
    assert.equal(await store.purgeDone(T0 + 1000), 1);
    assert.equal((await store.stats()).done, 0);
  });

  it('throttle puts a claimed message back without an attempt, with its reason and mailbox until the next attempt', async (store) => {
    const m = message();
    await store.enqueue(m);
    const [c] = await store.claimDue('w', { now: T0, limit: 1, leaseMs: 60_000 });
    await store.throttle(c!.id, 'other', T0 + 5000, 'x', 'x@contoso.com');
    assert.equal((await store.get(m.id))!.throttleReason, null, 'only the lease owner throttles');
    await store.throttle(c!.id, 'w', T0 + 60_000, '30 messages a minute', 'scanner@contoso.com');
    const got = (await store.get(m.id))!;
    assert.equal(got.attempts, 0);
    assert.equal(got.throttleReason, '30 messages a minute');
    assert.equal(got.mailbox, 'scanner@contoso.com');
    assert.equal(got.nextAttemptAt, T0 + 60_000);
    assert.deepEqual(await store.claimDue('w', { now: T0 + 59_999, limit: 1, leaseMs: 1 }), []);
    assert.equal(await store.nextDueAt(), T0 + 60_000);
    assert.deepEqual(
      (await store.list({ throttled: true })).map((x) => x.id),
      [m.id],
    );
    const stats = await store.stats();
    assert.deepEqual(stats.byMailbox['scanner@contoso.com'], { active: 1, throttled: 1, oldestActiveAt: T0 });
    const [again] = await store.claimDue('w', { now: T0 + 60_000, limit: 1, leaseMs: 60_000 });
    await store.recordAttempt({
      messageId: again!.id,
      owner: 'w',
      startedAt: T0 + 60_000,
      durationMs: 1,
      transport: 'smtp',
      upstream: null,
      results: [
        { recipientId: again!.recipients[0]!.id, outcome: 'delivered', reply: '250', category: 'delivered' },
      ],
      nextAttemptAt: T0 + 120_000,
      mailbox: 'scanner@contoso.com',
    });
    const after = (await store.get(m.id))!;
    assert.equal(after.throttleReason, null, 'an attempt clears the reason');
    assert.equal(after.mailbox, 'scanner@contoso.com');
  });

  it('held messages are never claimed until released; hold and release report what they did', async (store) => {
    const m = message();
    await store.enqueue(m);
    assert.equal(await store.setHeld(m.id, true), true);
    assert.equal(await store.setHeld('missing', true), false);
    assert.deepEqual(await store.claimDue('w', { now: T0 + 1, limit: 5, leaseMs: 1 }), []);
    assert.equal(await store.nextDueAt(), null);
    assert.equal((await store.get(m.id))!.held, true);
    assert.equal((await store.list({ held: true })).length, 1);
    assert.equal((await store.stats()).held, 1);
    assert.equal(await store.setHeld(m.id, false), true);
    assert.equal((await store.claimDue('w', { now: T0 + 1, limit: 5, leaseMs: 1 })).length, 1);
  });

  it('failPending fails the pending recipients of an unleased message, records it, and finishes it', async (store) => {
    const m = message();
    await store.enqueue(m);
    const [c] = await store.claimDue('w', { now: T0, limit: 1, leaseMs: 60_000 });
    assert.deepEqual(await store.failPending(m.id, '5.0.0 bounced', T0 + 1), [], 'not while leased');
    await store.releaseLease(c!.id, 'w');
    const failed = await store.failPending(m.id, '5.0.0 bounced by an operator', T0 + 2);
    assert.deepEqual(
      failed.map((r) => [r.address, r.state, r.orcpt]),
      [
        ['a@example.net', 'failed', 'rfc822;a@example.net'],
        ['b@example.net', 'failed', null],
      ],
    );
    const got = (await store.get(m.id))!;
    assert.equal(got.state, 'done');
    assert.deepEqual(
      got.history.map((h) => [h.outcome, h.category]),
      [
        ['failed', 'operator'],
        ['failed', 'operator'],
      ],
    );
    assert.deepEqual(await store.failPending(m.id, 'again', T0 + 3), [], 'done messages are left alone');
  });

  it('list filters by sender and recipient domain (wildcard characters are literal)', async (store) => {
    await store.enqueue(message({ id: newQueueId(T0 + 1), mailFrom: 'Scan@Contoso.com' }));
    await store.enqueue(
      message({
        id: newQueueId(T0 + 2),
        recipients: [{ address: 'x@fabrikam.com', notify: null, orcpt: null }],
      }),
    );
    await store.enqueue(
      message({
        id: newQueueId(T0 + 3),
        recipients: [{ address: 'x@fabrikamxcom.net', notify: null, orcpt: null }],
      }),
    );
    assert.equal((await store.list({ sender: 'scan@contoso.com' })).length, 1);
    assert.equal((await store.list({ recipientDomain: 'FABRIKAM.com' })).length, 1);
    assert.equal((await store.list({ recipientDomain: 'fabrikam_com' })).length, 0);
    assert.equal((await store.list({ recipientDomain: 'example.net' })).length, 1);
  });

  it('markDelayNotified is true once per message', async (store) => {
    const m = message();
    await store.enqueue(m);
    assert.equal(await store.markDelayNotified(m.id), true);
    assert.equal(await store.markDelayNotified(m.id), false);
    assert.equal(await store.markDelayNotified('missing'), false);
  });

  it('findDuplicate finds the newest message with the key inside the window', async (store) => {
    await store.enqueue(message({ id: newQueueId(T0), receivedAt: T0, dedupKey: 'k1' }));
    const newest = newQueueId(T0 + 5);
    await store.enqueue(message({ id: newest, receivedAt: T0 + 5, dedupKey: 'k1' }));
    await store.enqueue(message({ id: newQueueId(T0 + 6), receivedAt: T0 + 6 }));
    assert.equal(await store.findDuplicate('k1', T0), newest);
    assert.equal(await store.findDuplicate('k1', T0 + 6), null, 'outside the window');
    assert.equal(await store.findDuplicate('k2', 0), null);
  });

  it('trace: one row per recipient with its status, wildcard queries, events in order, refusals', async (store) => {
    const m = message({
      id: newQueueId(T0),
      mailFrom: 'mfp@contoso.com',
      client: { ip: '10.0.0.7', helo: 'mfp', listener: 'lan', user: 'scan01', tls: null, rule: 'printers' },
    });
    await store.enqueue(m);
    const other = message({ id: newQueueId(T0 + 1), receivedAt: T0 + 1, mailFrom: 'erp@fabrikam.com' });
    await store.enqueue(other);
    const [c] = await store.claimDue('w', { now: T0 + 10, limit: 1, leaseMs: 1000 });
    assert.equal(c!.id, m.id);
    await store.recordAttempt({
      messageId: m.id,
      owner: 'w',
      startedAt: T0 + 10,
      durationMs: 5,
      transport: 'smtp',
      upstream: 'mx.example:25',
      results: [
        { recipientId: c!.recipients[0]!.id, outcome: 'delivered', reply: '250 ok', category: 'delivered' },
        {
          recipientId: c!.recipients[1]!.id,
          outcome: 'failed',
          reply: '550 5.1.1 unknown',
          category: 'rejected',
        },
      ],
      nextAttemptAt: T0 + 20,
    });
    await store.recordEvent(m.id, T0 + 16, 'Bounce', 'bounce X to mfp@contoso.com');
    await store.setHeld(other.id, true);

    const rows = await store.trace({});
    assert.deepEqual(
      rows.map((r) => [r.queueId === m.id ? 'm' : 'other', r.recipient, r.status]),
      [
        ['other', 'a@example.net', 'Held'],
        ['other', 'b@example.net', 'Held'],
        ['m', 'a@example.net', 'Delivered'],
        ['m', 'b@example.net', 'Failed'],
      ],
    );
    assert.equal((await store.trace({ sender: '*@CONTOSO.com' })).length, 2);
    assert.equal((await store.trace({ sender: '*@contoso_com' })).length, 0, '_ is literal');
    assert.equal((await store.trace({ recipient: 'b@*', status: 'Failed' })).length, 1);
    assert.equal((await store.trace({ device: 'scan01' })).length, 2);
    assert.equal((await store.trace({ device: 'printers', clientIp: '10.0.0.7' })).length, 2);
    assert.equal((await store.trace({ messageId: 'm1@example.com' })).length, 4);
    assert.equal((await store.trace({ since: T0 + 1 })).length, 2);
    assert.equal((await store.trace({ limit: 1, offset: 1 }))[0]!.recipient, 'b@example.net');

    const events = (await store.traceMessage(m.id))!;
    assert.deepEqual(
      events.map((e) => [e.event, e.recipient]),
      [
        ['Receive', null],
        ['Queue', null],
        ['Deliver', 'a@example.net'],
        ['Fail', 'b@example.net'],
        ['Bounce', null],
      ],
    );
    assert.match(events[0]!.detail, /from 10\.0\.0\.7, user scan01, rule printers on lan/);
    assert.match(events[3]!.detail, /smtp via mx\.example:25 in 5 ms: 550 5\.1\.1 unknown/);
    // Held is stamped with the wall clock, which T0 (in the future) does not follow: compare as a set.
    assert.deepEqual((await store.traceMessage(other.id))!.map((e) => e.event).sort(), [
      'Held',
      'Queue',
      'Receive',
    ]);
    assert.equal(await store.traceMessage('missing'), null);

    await store.recordRefusal({
      at: T0,
      ip: '192.0.2.9',
      listener: 'lan',
      user: null,
      phase: 'connect',
      sender: null,
      recipient: null,
      reply: '554 5.7.1 Relay access denied',
    });
    await store.recordRefusal({
      at: T0 + 5,
      ip: '10.0.0.7',
      listener: 'lan',
      user: 'scan01',
      phase: 'rcpt',
      sender: 'mfp@contoso.com',
      recipient: 'x@gmail.com',
      reply: '550 5.7.1 outside',
    });
    assert.deepEqual(
      (await store.refusals({})).map((r) => r.ip),
      ['10.0.0.7', '192.0.2.9'],
    );
    assert.equal((await store.refusals({ ip: '192.0.2.9' })).length, 1);
    assert.equal((await store.refusals({ since: T0 + 1 })).length, 1);
  });
}
