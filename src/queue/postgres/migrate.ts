import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import type { Pool } from 'pg';

import { RelayError } from '../../errors.ts';
import * as SQL from './sql/index.ts';

const DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
/** The oldest PostgreSQL the SQL here is written for (SKIP LOCKED, JSONB, RETURNING). */
const MIN_SERVER_VERSION = 130000;

/** Why a server (its server_version_num) cannot hold the queue, or null when it can. */
export function serverTooOld(versionNum: number): string | null {
  if (!Number.isFinite(versionNum))
    return 'the PostgreSQL server did not say its version (server_version_num)';
  if (versionNum >= MIN_SERVER_VERSION) return null;
  const major = versionNum >= 100000 ? Math.floor(versionNum / 10000) : Math.floor(versionNum / 100) / 100;
  return `PostgreSQL ${major} is too old: Bridgehead needs 13 or newer (SKIP LOCKED, JSONB, hashtext, unnest with ordinality)`;
}

/**
 * Numbered migrations (0001_init.sql, ...) applied in order, each in its own transaction, under
 * an advisory lock so two nodes starting together do not both apply them. The applied version
 * lives in schema_migrations; a database newer than this build is refused.
 */
export async function migratePostgres(pool: Pool): Promise<number> {
  const client = await pool.connect();
  try {
    const tooOld = serverTooOld(Number((await client.query<{ v: string }>(SQL.serverVersion)).rows[0]!.v));
    if (tooOld) throw new RelayError('ERELAY_STORE_MIGRATION', tooOld);
    await client.query(SQL.lockMigrations);
    try {
      await client.query(SQL.createSchemaMigrations);
      const current = Number((await client.query<{ v: number | null }>(SQL.schemaVersion)).rows[0]!.v ?? 0);
      const files = readdirSync(DIR)
        .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
        .sort();
      const latest = files.length ? Number(files.at(-1)!.slice(0, 4)) : 0;
      if (current > latest)
        throw new RelayError(
          'ERELAY_STORE_MIGRATION',
          `the queue database is at schema ${current}, newer than this Bridgehead (${latest}); upgrade Bridgehead`,
        );
      for (const f of files) {
        const v = Number(f.slice(0, 4));
        if (v <= current) continue;
        await client.query('BEGIN');
        try {
          await client.query(readFileSync(`${DIR}/${f}`, 'utf8'));
          await client.query(SQL.recordMigration, [v]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw new RelayError('ERELAY_STORE_MIGRATION', `migration ${f} failed: ${(err as Error).message}`, {
            cause: err,
          });
        }
      }
      return Math.max(current, latest);
    } finally {
      await client.query(SQL.unlockMigrations);
    }
  } finally {
    client.release();
  }
}
