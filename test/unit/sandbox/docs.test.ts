import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { m365 } from '../../../src/sandbox/replies.ts';

test('docs/sandbox.md lists every reply of the sandbox catalogue, and no other', () => {
  const doc = readFileSync(new URL('../../../docs/sandbox.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## SMTP replies it reproduces'), doc.indexOf('## Token endpoint'));
  const listed = [...section.matchAll(/^\| `(\w+)` \| `(\d{3} \d\.\d+\.\d+)/gm)].map(
    (m) => [m[1]!, m[2]!] as const,
  );
  assert.deepEqual(listed.map(([n]) => n).sort(), Object.keys(m365).sort());
  for (const [name, codes] of listed) {
    const factory = m365[name as keyof typeof m365] as (...a: unknown[]) => {
      responseCode: number;
      enhanced: string;
    };
    const r = factory('host', 'a@b', '252');
    if (name === 'continuousErrors') assert.ok(codes.startsWith('550 5.2.25'), name);
    else assert.equal(codes, `${r.responseCode} ${r.enhanced}`, name);
  }
});
