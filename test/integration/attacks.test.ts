import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';

import { seededRandom } from '../../src/sandbox/context.ts';
import { startChildRelay, writeConfig } from '../helpers/child-relay.ts';
import { startLenientSink } from '../helpers/lenient-smtp.ts';
import { makeTestPki } from '../helpers/pki.ts';
import { queuedId, startTestRelay, tempDir, waitFor } from '../helpers/relay.ts';
import { RawSmtp } from '../helpers/smtp-client.ts';

const dir = tempDir('bh-attacks-');
const pki = makeTestPki(dir);
test.after(() => rmSync(dir, { recursive: true, force: true }));

const HOLD = {
  routes: { default: { transport: { kind: 'smtp', host: '127.0.0.1', port: 9, security: 'none' } } },
};

/** The end-of-data look-alikes of the SMTP smuggling research (SEC Consult, 2023). */
const SMUGGLING = ['\n.\n', '\r.\r', '\r\n.\n', '\n.\r\n', '\r.\r\n', '\r\n.\r', '\r\n\x00.\r\n'];

test('SMTP smuggling: no end-of-data look-alike splits one message into two, here or at a lenient next hop', async (t) => {
  // The next hop ends lines at CR, LF or CRLF, as the vulnerable servers did. What keeps it
  // from seeing two messages is that nothing bare leaves the relay: repair.ts normalises line
  // endings at intake (pinned by test/unit/smtp/repair.test.ts) and the SMTP client dot-stuffs.
  const upstream = await startLenientSink();
  t.after(() => upstream.close());
  const relay = await startTestRelay({
    routes: {
      default: { transport: { kind: 'smtp', host: '127.0.0.1', port: upstream.port, security: 'none' } },
    },
  });
  t.after(() => relay.cleanup());
  for (const eod of SMUGGLING) {
    const c = await RawSmtp.connect(relay.port);
    t.after(() => c.close());
    await c.reply();
    await c.command('EHLO mta.example');
    await c.command('MAIL FROM:<user@contoso.com>');
    await c.command('RCPT TO:<a@contoso.com>');
    await c.command('DATA');
    const smuggled = `MAIL FROM:<ceo@contoso.com>\r\nRCPT TO:<victim@contoso.com>\r\nDATA\r\nFrom: ceo@contoso.com\r\n\r\nwire the money\r\n`;
    c.write(`From: user@contoso.com\r\nSubject: innocent\r\n\r\nhello${eod}${smuggled}\r\n.\r\n`);
    assert.match(await c.reply(), /^250 2\.0\.0 Ok: queued as /, JSON.stringify(eod));
    assert.equal(await c.command('NOOP'), '250 2.0.0 OK', 'exactly one reply for the whole DATA');
  }
  assert.equal((await relay.store.list()).length, SMUGGLING.length, 'one message per DATA here');
  await waitFor(() => upstream.messages.length >= SMUGGLING.length, 'all delivered', 15_000);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(
    upstream.messages.map((m) => m.from),
    SMUGGLING.map(() => 'user@contoso.com'),
    'one message per DATA at the next hop, none from the smuggled sender',
  );
  for (const m of upstream.messages)
    assert.match(m.data, /wire the money/, 'the smuggled text stayed inside the one message');
});

test('STARTTLS command injection: commands pipelined before the handshake are discarded', async (t) => {
  const relay = await startTestRelay({
    ...HOLD,
    listeners: [{ host: '127.0.0.1', port: 0, mode: 'starttls', cert: pki.certFile, key: pki.keyFile }],
  });
  t.after(() => relay.cleanup());
  const raw = await RawSmtp.connect(relay.port);
  t.after(() => raw.close());
  await raw.reply();
  await raw.command('EHLO x');
  raw.write('STARTTLS\r\nMAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@contoso.com>\r\n');
  assert.match(await raw.reply(), /^220 /);
  const secure = tlsConnect({ socket: raw.socket, ca: pki.ca, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  const c = RawSmtp.wrap(secure);
  assert.match(await c.command('EHLO x'), /^250/);
  assert.match(
    await c.command('RCPT TO:<victim@contoso.com>'),
    /^503 /,
    'no MAIL FROM survived the handshake',
  );
});

test('header and response injection through envelope parameters and HELO is refused', async (t) => {
  const relay = await startTestRelay(HOLD);
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  assert.match(await c.command('EHLO evil\x00host'), /^501 /);
  assert.match(await c.command('EHLO mfp'), /^250/);
  assert.match(await c.command('MAIL FROM:<a@contoso.com> ENVID=x+0D+0ABcc:+spy@attacker.example'), /^501 /);
  assert.match(await c.command('MAIL FROM:<a\rb@contoso.com>'), /^501 /);
  assert.match(await c.command('MAIL FROM:<a@contoso.com>'), /^250 /);
  assert.match(await c.command('RCPT TO:<b@contoso.com> ORCPT=rfc822;x+0D+0AX-Injected:+1'), /^501 /);
  assert.match(await c.command('RCPT TO:<b@contoso.com> NOTIFY=SUCCESS'), /^250 /);
  await c.command('DATA');
  const id = queuedId(await c.command('Subject: t\r\n\r\nx\r\n.'));
  const body = (await relay.store.readBody(id)).toString('latin1');
  assert.doesNotMatch(body, /spy@attacker|X-Injected/);
});

test('pipelining abuse: thousands of commands in one write are answered in order, within limits, and the relay stays responsive', async (t) => {
  const relay = await startTestRelay({ ...HOLD, limits: { maxRecipients: 50 } });
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  await c.command('EHLO flood');
  const rcpts = Array.from({ length: 2000 }, (_, i) => `RCPT TO:<r${i}@contoso.com>\r\n`).join('');
  c.write(`MAIL FROM:<a@contoso.com>\r\n${rcpts}${'NOOP\r\n'.repeat(3000)}`);
  assert.match(await c.reply(), /^250 /);
  for (let i = 0; i < 50; i++) assert.match(await c.reply(), /^250 /);
  assert.match(await c.reply(), /^452 4\.5\.3 /);
  // Meanwhile another device is served normally.
  const other = await RawSmtp.connect(relay.port);
  t.after(() => other.close());
  assert.match(await other.reply(), /^220 /);
  assert.match(await other.command('NOOP'), /^250 /);
  let seen = 0;
  for (let i = 0; i < 1949 + 3000; i++) if (/^(250|452) /.test(await c.reply())) seen++;
  assert.equal(seen, 1949 + 3000);
});

test('slow-loris: a session trickling valid commands is ended by limits.sessionTimeout with 421 4.4.2', async (t) => {
  const relay = await startTestRelay({ ...HOLD, limits: { sessionTimeout: '600ms', idleTimeout: '10s' } });
  t.after(() => relay.cleanup());
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  await c.reply();
  const trickle = setInterval(() => c.write('N'), 100);
  t.after(() => clearInterval(trickle));
  assert.equal(
    await c.reply(5000),
    '421 4.4.2 Session time limit of 600ms reached, closing connection; reconnect to send more',
  );
  clearInterval(trickle);
  assert.ok(await c.waitClosed());
});

/** Random and mutated command streams from a seeded generator, so a failure can be replayed. */
function fuzzCase(rand: () => number): Buffer {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const valid = [
    'EHLO fuzz\r\n',
    'HELO fuzz\r\n',
    'MAIL FROM:<a@contoso.com> SIZE=100 BODY=8BITMIME\r\n',
    'RCPT TO:<b@contoso.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@contoso.com\r\n',
    'DATA\r\n',
    'Subject: x\r\n\r\nbody\r\n.\r\n',
    'RSET\r\n',
    'NOOP\r\n',
    'AUTH PLAIN AGZvbwBiYXI=\r\n',
    'AUTH LOGIN\r\n',
    'STARTTLS\r\n',
    'BDAT 10 LAST\r\n',
    'VRFY root\r\n',
    'QUIT\r\n',
  ];
  const parts: Buffer[] = [];
  const n = 1 + Math.floor(rand() * 12);
  for (let i = 0; i < n; i++) {
    const kind = rand();
    if (kind < 0.5) parts.push(Buffer.from(pick(valid)));
    else if (kind < 0.7) {
      const b = Buffer.from(pick(valid));
      for (let k = 0; k < 3; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      parts.push(b);
    } else if (kind < 0.85) {
      const b = Buffer.alloc(Math.floor(rand() * 600));
      for (let k = 0; k < b.length; k++) b[k] = Math.floor(rand() * 256);
      parts.push(b);
    } else if (kind < 0.95)
      parts.push(Buffer.from(pick(['\r\n', '\n', '\r', '.\r\n', '\x00', '\r\n.\r\n', ' '])));
    else parts.push(Buffer.from(`MAIL FROM:<${'a'.repeat(Math.floor(rand() * 9000))}@x>\r\n`));
  }
  return Buffer.concat(parts);
}

test('fuzz: 1000 random and mutated command streams; no crash, no hang, bounded memory, still serving', async (t) => {
  const work = tempDir('bh-fuzz-');
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const relay = await startChildRelay(
    writeConfig(work, {
      relay: { dataDir: work, hostname: 'relay.test' },
      listeners: [
        {
          host: '127.0.0.1',
          port: 0,
          mode: 'auto',
          cert: pki.certFile,
          key: pki.keyFile,
          tlsDetectWait: '50ms',
        },
      ],
      limits: { idleTimeout: '1s', dataTimeout: '2s', maxConnectionsPerIp: 500 },
      routes: HOLD.routes,
      log: { level: 'info', format: 'json' },
    }),
  );
  t.after(() => relay.child.kill('SIGKILL'));
  const rand = seededRandom(20261122);
  let hung = 0;
  const one = (payload: Buffer) =>
    new Promise<void>((resolve) => {
      const s = netConnect(relay.port, '127.0.0.1');
      const limit = setTimeout(() => {
        hung++;
        s.destroy();
        resolve();
      }, 6000);
      s.on('error', () => undefined);
      s.on('data', () => undefined);
      s.on('close', () => {
        clearTimeout(limit);
        resolve();
      });
      s.on('connect', () => {
        let off = 0;
        const step = () => {
          if (off >= payload.length) return s.end();
          const n = 1 + Math.floor(rand() * 300);
          s.write(payload.subarray(off, off + n));
          off += n;
          setImmediate(step);
        };
        step();
      });
    });
  for (let batch = 0; batch < 100; batch++)
    await Promise.all(Array.from({ length: 10 }, () => one(fuzzCase(rand))));
  assert.equal(hung, 0, 'every connection was closed by the relay within idleTimeout + slack');
  assert.equal(relay.child.exitCode, null, `the relay is still running:\n${relay.output().slice(-2000)}`);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${relay.child.pid}/status`, 'utf8'))![1]);
  assert.ok(rssKb < 400 * 1024, `RSS ${rssKb} kB stays bounded`);
  const c = await RawSmtp.connect(relay.port);
  t.after(() => c.close());
  assert.match(await c.reply(), /^220 /);
  await c.command('EHLO ok');
  await c.command('MAIL FROM:<a@contoso.com>');
  await c.command('RCPT TO:<b@contoso.com>');
  await c.command('DATA');
  assert.match(await c.command('Subject: after fuzz\r\n\r\nx\r\n.'), /^250 2\.0\.0 Ok: queued as /);
  assert.doesNotMatch(relay.output(), /uncaught|unhandled/i);
});
