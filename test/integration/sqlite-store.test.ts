import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import Database from 'better-sqlite3';

import { listMigrations } from '../../src/queue/sqlite/migrate.ts';
import { SqliteQueueStore } from '../../src/queue/sqlite/store.ts';
import { newQueueId } from '../../src/util/id.ts';
import { tempDir } from '../helpers/relay.ts';
import { message } from '../helpers/store-contract.ts';

function spool() {
  const dir = tempDir('bh-sqlite-');
  return { path: join(dir, 'queue.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('the database runs in WAL mode with synchronous=FULL and the latest schema version', (t) => {
  const { path, cleanup } = spool();
  t.after(cleanup);
  const store = SqliteQueueStore.open({ path });
  t.after(() => store.close());
  const db = new Database(path, { readonly: true });
  t.after(() => db.close());
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('user_version', { simple: true }), listMigrations().at(-1)!.version);
});

test('a database newer than this version is refused with ERELAY_STORE_MIGRATION', async (t) => {
  const { path, cleanup } = spool();
  t.after(cleanup);
  await SqliteQueueStore.open({ path }).close();
  const db = new Database(path);
  db.pragma('user_version = 999');
  db.close();
  assert.throws(() => SqliteQueueStore.open({ path }), { code: 'ERELAY_STORE_MIGRATION' });
});

test('leases left by a dead process are released on open when recoverLeases is set, kept otherwise', async (t) => {
  const { path, cleanup } = spool();
  t.after(cleanup);
  const first = SqliteQueueStore.open({ path });
  const m = message({ receivedAt: Date.now() });
  await first.enqueue(m);
  await first.claimDue('dead-process', { now: Date.now(), limit: 1, leaseMs: 3_600_000 });
  await first.close();
  const cli = SqliteQueueStore.open({ path, recoverLeases: false });
  assert.equal((await cli.claimDue('cli', { now: Date.now(), limit: 1, leaseMs: 1 })).length, 0);
  await cli.close();
  const relay = SqliteQueueStore.open({ path, recoverLeases: true });
  t.after(() => relay.close());
  assert.equal((await relay.claimDue('new-process', { now: Date.now(), limit: 1, leaseMs: 1 })).length, 1);
});

test('a full database refuses the write as "full" and keeps earlier messages', async (t) => {
  const { path, cleanup } = spool();
  t.after(cleanup);
  const store = SqliteQueueStore.open({ path, maxSizeBytes: 256 * 1024 });
  t.after(() => store.close());
  await store.enqueue(message());
  await assert.rejects(
    store.enqueue(message({ id: newQueueId(), body: Buffer.alloc(512 * 1024, 120) })),
    (err: Error & { full?: boolean }) => {
      assert.equal(err.full, true);
      return true;
    },
  );
  assert.equal((await store.stats()).active, 1);
});
