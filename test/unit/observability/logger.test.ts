import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';

import { createLogger } from '../../../src/observability/logger.ts';

test('secrets are redacted wherever they appear in a log line', () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const log = createLogger({ level: 'info', format: 'json', destination });
  log.info(
    {
      pass: 'p1',
      transport: { auth: { user: 'relay', pass: 'p2' }, clientSecret: 's1' },
      req: { headers: { authorization: 'Bearer t1', cookie: 'c1' } },
      accessToken: 't2',
    },
    'test:line',
  );
  const out = lines.join('');
  for (const secret of ['p1', 'p2', 's1', 'Bearer t1', 'c1', 't2'])
    assert.ok(!out.includes(`"${secret}"`), `${secret} leaked: ${out}`);
  assert.match(out, /"user":"relay"/, 'non-secret values stay');
  assert.match(out, /\[redacted\]/);
});
