// Node 20's test runner takes no glob patterns, so this finds the *.test.ts files of one tier
// and hands them to `node --test` (through tsx). Usage: node scripts/run-tests.mjs unit|integration|e2e [filter]
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const tier = process.argv[2] ?? 'unit';
const filter = process.argv[3];
const settings = {
  unit: { concurrency: 2, timeoutMs: 60_000 },
  integration: { concurrency: 2, timeoutMs: 240_000 },
  e2e: { concurrency: 1, timeoutMs: 240_000 },
};
const setting = settings[tier];
if (!setting) {
  console.error(`unknown test tier ${tier}`);
  process.exit(2);
}

function find(dir) {
  let out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out = out.concat(find(path));
    else if (entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

let files = [];
try {
  files = find(join('test', tier)).sort();
} catch {
  files = [];
}
if (filter) files = files.filter((f) => f.includes(filter));
if (files.length === 0) {
  console.log(`no ${tier} tests`);
  process.exit(0);
}
const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${setting.concurrency}`,
    `--test-timeout=${setting.timeoutMs}`,
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
