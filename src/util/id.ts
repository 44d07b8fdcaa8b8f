import { randomBytes } from 'node:crypto';

// Crockford base32: no I, L, O, U, so ids read aloud over the phone survive.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * Queue ids sort by time (10 characters of milliseconds) and then carry 60 random bits (12
 * characters), like Postfix's long queue ids: unique across nodes without coordination.
 */
export function newQueueId(now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(8);
  let rand = '';
  let bits = bytes.readBigUInt64BE();
  for (let i = 0; i < 12; i++) {
    rand += ALPHABET[Number(bits & 31n)]!;
    bits >>= 5n;
  }
  return time + rand;
}

export const QUEUE_ID_RE = /^[0-9A-HJKMNP-TV-Z]{22}$/;
