import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

test('every log event name used in src/ is in docs/logging.md, and the doc lists no stale ones', () => {
  // A log call passes the event name as its last argument: `log.info({...}, 'smtp:accepted')`.
  const used = new Set<string>();
  for (const file of sources(SRC)) {
    for (const m of readFileSync(file, 'utf8').matchAll(
      /\.(?:fatal|error|warn|info|debug|trace)\((?:[^;]*?,\s*)?'([a-z]+:[a-z-]+)',?\s*\)/g,
    )) {
      used.add(m[1]!);
    }
  }
  const doc = readFileSync(new URL('../../docs/logging.md', import.meta.url), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `([a-z]+:[a-z-]+)` \|/gm)].map((m) => m[1]!));
  assert.ok(used.size >= 15, `found only ${used.size} events; is the pattern still right?`);
  assert.deepEqual(
    [...used].filter((e) => !documented.has(e)),
    [],
    'undocumented log events',
  );
  assert.deepEqual(
    [...documented].filter((e) => !used.has(e)),
    [],
    'documented events no longer logged',
  );
});
