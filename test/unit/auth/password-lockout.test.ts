import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AuthLockout } from '../../../src/auth/lockout.ts';
import { hashPassword, parseHash, verifyPassword } from '../../../src/auth/password.ts';

test('scrypt hashes: self-describing, salted, verified in constant time, malformed never verifies', async () => {
  const a = await hashPassword('pr1nter!', 10);
  const b = await hashPassword('pr1nter!', 10);
  assert.match(a, /^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.notEqual(a, b, 'each hash has its own salt');
  assert.equal(await verifyPassword('pr1nter!', a), true);
  assert.equal(await verifyPassword('pr1nter', a), false);
  assert.equal(await verifyPassword('', a), false);
  assert.equal(await verifyPassword('pr1nter!', a.replace('ln=10', 'ln=11')), false);
  assert.equal(await verifyPassword('x', '$scrypt$garbage'), false);
  assert.equal(
    parseHash('$scrypt$ln=40,r=8,p=1$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
    null,
    'absurd cost refused',
  );
  // NFC: the same password typed with a combining accent verifies.
  const c = await hashPassword('caf\u00e9', 10);
  assert.equal(await verifyPassword('cafe\u0301', c), true);
});

test('lockout: maxFailures within the window locks the address; it ends by itself; success clears', () => {
  let now = 0;
  const l = new AuthLockout({ maxFailures: 3, windowMs: 60_000, lockoutMs: 300_000 }, () => now);
  assert.equal(l.fail('10.0.0.1'), null);
  now = 70_000; // first failure left the window
  assert.equal(l.fail('10.0.0.1'), null);
  assert.equal(l.fail('10.0.0.1'), null);
  assert.equal(l.lockedUntil('10.0.0.1'), null);
  assert.equal(l.fail('10.0.0.1'), 370_000);
  assert.equal(l.lockedUntil('10.0.0.1'), 370_000);
  assert.equal(l.lockedUntil('10.0.0.2'), null, 'per address');
  now = 370_001;
  assert.equal(l.lockedUntil('10.0.0.1'), null);
  l.fail('10.0.0.2');
  l.fail('10.0.0.2');
  l.succeed('10.0.0.2');
  assert.equal(l.fail('10.0.0.2'), null, 'a success starts the count again');
});
