import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

import * as SQL from '../../../src/queue/postgres/sql/index.ts';

const DIR = new URL('../../../src/queue/postgres/', import.meta.url);
const files = readdirSync(new URL('sql/', DIR)).filter((f) => f !== 'index.ts');
const camel = (f: string) => f.replace(/\.ts$/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

test('PostgreSQL statements: one per file, named after it, each exported and used by the store', () => {
  const exported = SQL as Record<string, string>;
  assert.deepEqual(Object.keys(exported).sort(), files.map(camel).sort(), 'sql/index.ts exports every file');
  const users = ['store.ts', 'ledger.ts', 'trace.ts', 'migrate.ts']
    .map((f) => readFileSync(new URL(f, DIR), 'utf8'))
    .join('\n');
  for (const f of files) {
    const source = readFileSync(new URL(`sql/${f}`, DIR), 'utf8');
    assert.equal(source.match(/^export const /gm)?.length, 1, `${f}: one export`);
    const text = exported[camel(f)]!;
    // One statement: no `;` that would start another (the text holds no string with a `;`).
    assert.ok(!text.trim().replace(/;$/, '').includes(';'), `${f}: a single statement`);
    assert.match(text.trim(), /^(SELECT|INSERT|UPDATE|DELETE|WITH|LISTEN|UNLISTEN|SHOW|CREATE)\b/, f);
    assert.ok(users.includes(`SQL.${camel(f)}`), `${f} is used`);
  }
});

test('the store, ledger and migration runner run no SQL of their own but transaction control', () => {
  for (const f of ['store.ts', 'ledger.ts', 'migrate.ts']) {
    const source = readFileSync(new URL(f, DIR), 'utf8');
    const inline = [...source.matchAll(/\.query\(\s*(['"`])([^'"`]*)/g)]
      .map((m) => m[2]!.trim())
      .filter((q) => !/^(BEGIN|COMMIT|ROLLBACK)$/.test(q));
    assert.deepEqual(inline, [], `${f} has inline SQL`);
  }
});
