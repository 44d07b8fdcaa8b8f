import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

import { hashPassword } from '../../src/auth/password.ts';
import { makeTestPki } from '../helpers/pki.ts';
import { startTestRelay, tempDir } from '../helpers/relay.ts';
import { RawSmtp } from '../helpers/smtp-client.ts';

/**
 * The open-relay matrix: over every listener mode, each way in that must fail does fail, and
 * one that must work does (so the matrix itself can go red). Rules:
 *   staff   - AUTH as scan01, senders @contoso.com, any recipient
 *   printer - 127.0.0.2 without AUTH, senders @contoso.com, internal recipients only
 * The balancer allowed to send PROXY headers is 127.0.0.9, which nobody here is.
 */
const dir = tempDir('bh-open-relay-');
const pki = makeTestPki(dir);
test.after(() => rmSync(dir, { recursive: true, force: true }));
const b64 = (s: string) => Buffer.from(s).toString('base64');
const users = { scan01: await hashPassword('pr1nter!', 12) };

const MODES = ['plain', 'starttls', 'implicit-tls', 'auto'] as const;
type Mode = (typeof MODES)[number];

async function open(mode: Mode, port: number, localAddress = '127.0.0.1', before?: string): Promise<RawSmtp> {
  const tls = (socket?: RawSmtp['socket']) =>
    new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({
        ...(socket ? { socket } : { port, host: '127.0.0.1', localAddress }),
        ca: pki.ca,
        servername: 'localhost',
      });
      s.once('secureConnect', () => resolve(s)).once('error', reject);
    });
  let c: RawSmtp;
  if (mode === 'implicit-tls' || mode === 'auto') c = RawSmtp.wrap(await tls());
  else c = await RawSmtp.connect(port, '127.0.0.1', localAddress);
  if (before) c.write(before);
  const greeting = await c.reply();
  if (!greeting.startsWith('220')) return Object.assign(c, { greeting });
  if (before)
    assert.match(await c.reply(), /^500 5\.5\.2 /, 'a PROXY line from a non-balancer is an unknown command');
  assert.match(await c.command('EHLO matrix'), /^250/);
  if (mode === 'starttls') {
    assert.match(await c.command('STARTTLS'), /^220 /);
    c = RawSmtp.wrap(await tls(c.socket));
    assert.match(await c.command('EHLO matrix'), /^250/);
  }
  return c;
}

async function transaction(c: RawSmtp, from: string, to: string, header = from): Promise<string> {
  const mail = await c.command(`MAIL FROM:<${from}>`);
  if (!mail.startsWith('250')) return mail;
  const rcpt = await c.command(`RCPT TO:<${to}>`);
  if (!rcpt.startsWith('250')) {
    await c.command('RSET');
    return rcpt;
  }
  assert.match(await c.command('DATA'), /^354 /);
  return c.command(`From: ${header}\r\nSubject: matrix\r\n\r\nx\r\n.`);
}

for (const mode of MODES) {
  test(`open-relay matrix over a ${mode} listener: nothing gets in that should not`, async (t) => {
    const relay = await startTestRelay({
      routes: { default: { transport: { kind: 'smtp', host: '127.0.0.1', port: 9, security: 'none' } } },
      users,
      relay: { internalDomains: ['contoso.com'] },
      auth: { maxFailures: 100 },
      listeners: [
        {
          host: '127.0.0.1',
          port: 0,
          mode,
          allowPlainAuth: mode === 'plain',
          proxyFrom: ['127.0.0.9'],
          tlsDetectWait: '100ms',
          ...(mode === 'plain' ? {} : { cert: pki.certFile, key: pki.keyFile }),
        },
      ],
      clients: [
        { name: 'staff', match: { users: ['scan01'] }, senders: ['@contoso.com'] },
        {
          name: 'printer',
          match: { addresses: ['127.0.0.2'] },
          senders: ['@contoso.com'],
          recipients: 'internal',
        },
      ],
    });
    t.after(() => relay.cleanup());
    const sessions: RawSmtp[] = [];
    t.after(() => sessions.forEach((s) => s.close()));
    const session = async (local?: string, before?: string) => {
      const c = await open(mode, relay.port, local, before);
      sessions.push(c);
      return c;
    };

    // Unauthenticated, from an address no rule knows.
    const anon = await session();
    assert.match(await transaction(anon, 'a@contoso.com', 'x@gmail.com'), /^530 5\.7\.0 /, 'unauthenticated');
    // Wrong password, then trying anyway.
    const wrong = await session();
    assert.match(await wrong.command(`AUTH PLAIN ${b64('\0scan01\0guess')}`), /^535 5\.7\.8 /);
    assert.match(await transaction(wrong, 'a@contoso.com', 'x@gmail.com'), /^530 5\.7\.0 /, 'wrong password');
    // The allowed printer, with a foreign envelope sender and then a foreign From header.
    const printer = await session('127.0.0.2');
    assert.match(
      await transaction(printer, 'ceo@fabrikam.com', 'a@contoso.com'),
      /^550 5\.7\.1 /,
      'foreign sender',
    );
    assert.match(
      await transaction(printer, 'mfp@contoso.com', 'a@contoso.com', 'ceo@fabrikam.com'),
      /^550 5\.7\.1 From: /,
      'foreign From header',
    );
    // The printer's rule is internal-only: an external recipient is refused.
    assert.match(
      await transaction(printer, 'mfp@contoso.com', 'x@gmail.com'),
      /^550 5\.7\.1 /,
      'external recipient',
    );
    // A PROXY header claiming the printer's address, from someone who is not the balancer.
    if (mode === 'plain' || mode === 'starttls') {
      const spoof = await session('127.0.0.1', 'PROXY TCP4 127.0.0.2 127.0.0.1 5000 25\r\n');
      assert.match(
        await transaction(spoof, 'mfp@contoso.com', 'a@contoso.com'),
        /^530 5\.7\.0 /,
        'PROXY spoof',
      );
    }
    assert.equal((await relay.store.list()).length, 0, 'nothing was accepted');

    // The controls: what is allowed does get through, so the refusals above mean something.
    assert.match(
      await transaction(printer, 'mfp@contoso.com', 'a@contoso.com'),
      /^250 2\.0\.0 Ok: queued as /,
    );
    const staff = await session();
    assert.match(await staff.command(`AUTH PLAIN ${b64('\0scan01\0pr1nter!')}`), /^235 /);
    assert.match(await transaction(staff, 'scan@contoso.com', 'x@gmail.com'), /^250 2\.0\.0 Ok: queued as /);
    assert.equal((await relay.store.list()).length, 2);
  });
}
