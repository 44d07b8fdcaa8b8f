// Rewrites the generated key table in docs/configuration.md from the schema (npm run docs:config).
import { readFileSync, writeFileSync } from 'node:fs';

import { configReferenceTable, TABLE_BEGIN, TABLE_END } from '../src/config/reference.ts';

const path = 'docs/configuration.md';
const doc = readFileSync(path, 'utf8');
const start = doc.indexOf(TABLE_BEGIN);
const end = doc.indexOf(TABLE_END);
if (start < 0 || end < start) throw new Error(`${path} lacks the generated-table markers`);
writeFileSync(
  path,
  `${doc.slice(0, start + TABLE_BEGIN.length)}\n${configReferenceTable()}\n${doc.slice(end)}`,
);
console.log(`${path} updated`);
