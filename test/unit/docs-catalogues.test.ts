import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { configReferenceTable, TABLE_BEGIN, TABLE_END } from '../../src/config/reference.ts';
import { RULES } from '../../src/delivery/classify.ts';
import { ERROR_CODES } from '../../src/errors.ts';
import { replies } from '../../src/smtp/replies.ts';

const errorsDoc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

/** Rows of the markdown table that follows `heading`, as arrays of cell texts. */
function tableAfter(doc: string, heading: string): string[][] {
  const start = doc.indexOf(heading);
  assert.ok(start >= 0, `heading ${heading} missing`);
  const rows: string[][] = [];
  let inTable = false;
  for (const line of doc.slice(start).split('\n').slice(1)) {
    if (line.startsWith('|')) {
      inTable = true;
      const cells = line
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((c) => c.trim());
      if (
        !/^-+$/.test(cells[0]!.replace(/ /g, '')) &&
        cells[0] !== 'name' &&
        cells[0] !== 'rule' &&
        cells[0] !== 'code'
      )
        rows.push(cells);
    } else if (inTable) break;
  }
  return rows;
}

const unquote = (s: string) => s.replace(/`/g, '');

test('docs/configuration.md holds exactly the table generated from the schema', () => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const inDoc = doc.slice(doc.indexOf(TABLE_BEGIN) + TABLE_BEGIN.length, doc.indexOf(TABLE_END)).trim();
  assert.equal(inDoc, configReferenceTable(), 'run `npm run docs:config` after changing the schema');
});

test('docs/errors.md lists every SMTP reply factory, with the code and enhanced code it sends', () => {
  const rows = tableAfter(errorsDoc, '## 1. SMTP replies');
  const documented = new Map(rows.map((r) => [unquote(r[0]!), unquote(r[1]!)]));
  const sample = (name: string) => {
    const f = replies[name as keyof typeof replies] as (...a: unknown[]) => {
      responseCode: number;
      enhanced: string;
    };
    return f('X', 1);
  };
  for (const name of Object.keys(replies)) {
    assert.ok(documented.has(name), `reply ${name} is not documented`);
    const r = sample(name);
    assert.ok(
      documented.get(name)!.startsWith(`${r.responseCode} ${r.enhanced} `),
      `${name}: doc says "${documented.get(name)}"`,
    );
  }
  for (const name of documented.keys())
    assert.ok(name in replies, `docs list ${name}, which replies.ts lacks`);
});

test('docs/errors.md lists every classifier rule with its action and category, in order', () => {
  const rows = tableAfter(errorsDoc, '## 2. Delivery outcome rules');
  assert.deepEqual(
    rows.map((r) => [unquote(r[0]!), r[2], r[3]]),
    RULES.map((r) => [r.name, r.action, r.category]),
  );
});

test('docs/errors.md lists every ERELAY code and no other', () => {
  const rows = tableAfter(errorsDoc, '## 3. Internal error codes');
  assert.deepEqual(rows.map((r) => unquote(r[0]!)).sort(), Object.keys(ERROR_CODES).sort());
});
