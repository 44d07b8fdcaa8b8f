import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, test } from 'node:test';

import pg from 'pg';

import type { RelayError } from '../../src/errors.ts';
import { migratePostgres, serverTooOld } from '../../src/queue/postgres/migrate.ts';
import { PostgresQueueStore } from '../../src/queue/postgres/store.ts';
import { startTestPostgres } from '../helpers/postgres.ts';

const pgServer = await startTestPostgres();
after(() => pgServer.stop());

const SNAPSHOT = new URL('../../src/queue/postgres/schema.txt', import.meta.url);

/**
 * The migrations, applied to an empty database, give exactly the schema committed in
 * src/queue/postgres/schema.txt: a migration edited after release, or a schema change
 * without its migration, shows up here as a diff a reviewer can read.
 * BRIDGEHEAD_UPDATE_SCHEMA=1 rewrites the file after an intended change.
 */
test('the PostgreSQL migrations produce the committed schema', async () => {
  const pool = new pg.Pool({ connectionString: await pgServer.database() });
  try {
    await migratePostgres(pool);
    const columns = await pool.query(
      `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
       WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
    );
    const indexes = await pool.query(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY tablename, indexname`,
    );
    const dumped = [
      '# The PostgreSQL queue schema as the migrations build it (checked by test/integration/postgres-schema.test.ts).',
      ...columns.rows.map(
        (c) =>
          `${c.table_name}.${c.column_name} ${c.data_type}${c.is_nullable === 'NO' ? ' NOT NULL' : ''}${
            c.column_default ? ` DEFAULT ${c.column_default}` : ''
          }`,
      ),
      ...indexes.rows.map((i) => i.indexdef as string),
      '',
    ].join('\n');
    if (process.env.BRIDGEHEAD_UPDATE_SCHEMA) writeFileSync(SNAPSHOT, dumped);
    assert.equal(dumped, readFileSync(SNAPSHOT, 'utf8'));
  } finally {
    await pool.end();
  }
});

test('nodes starting together apply each migration once; a database at a newer schema is refused', async () => {
  const url = await pgServer.database();
  const stores = await Promise.all([1, 2, 3].map(() => PostgresQueueStore.open({ url })));
  await Promise.all(stores.map((s) => s.close()));
  const pool = new pg.Pool({ connectionString: url });
  try {
    const rows = (await pool.query('SELECT version FROM schema_migrations ORDER BY version')).rows;
    assert.deepEqual(
      rows.map((r) => r.version),
      [...new Set(rows.map((r) => r.version))],
      'each version recorded once',
    );
    await pool.query('INSERT INTO schema_migrations (version) VALUES (9999)');
  } finally {
    await pool.end();
  }
  await assert.rejects(
    PostgresQueueStore.open({ url }),
    (err: RelayError) =>
      err.code === 'ERELAY_STORE_MIGRATION' &&
      /schema 9999, newer than this Bridgehead .*upgrade Bridgehead/.test(err.message),
  );
});

test('a server older than PostgreSQL 13 is named in the refusal', () => {
  assert.equal(serverTooOld(180001), null);
  assert.equal(serverTooOld(130000), null);
  assert.match(serverTooOld(120015)!, /^PostgreSQL 12 is too old: Bridgehead needs 13 or newer/);
  assert.match(serverTooOld(90624)!, /^PostgreSQL 9\.06 is too old/);
  assert.match(serverTooOld(Number(undefined))!, /did not say its version/);
});
