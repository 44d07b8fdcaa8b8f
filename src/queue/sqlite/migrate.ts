import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import type { Database } from 'better-sqlite3';

import { RelayError } from '../../errors.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Numbered migrations (0001_init.sql, ...) in file order; the version lives in PRAGMA user_version. */
export function listMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((name) => ({
      version: Number(name.slice(0, 4)),
      name,
      sql: readFileSync(`${dir}/${name}`, 'utf8'),
    }));
}

/** Applies every migration newer than the database, each in its own transaction. Returns the new version. */
export function migrate(db: Database, dir?: string): number {
  const migrations = listMigrations(dir);
  const latest = migrations.at(-1)?.version ?? 0;
  let current = db.pragma('user_version', { simple: true }) as number;
  if (current > latest) {
    throw new RelayError(
      'ERELAY_STORE_MIGRATION',
      `the queue database is at schema version ${current}, newer than this Bridgehead knows (${latest}); upgrade Bridgehead or restore a matching backup`,
    );
  }
  for (const m of migrations) {
    if (m.version <= current) continue;
    try {
      db.transaction(() => {
        db.exec(m.sql);
        db.pragma(`user_version = ${m.version}`);
      })();
    } catch (cause) {
      throw new RelayError(
        'ERELAY_STORE_MIGRATION',
        `migration ${m.name} failed: ${(cause as Error).message}`,
        { cause },
      );
    }
    current = m.version;
  }
  return current;
}
