import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseProxyHeader, V2_SIGNATURE } from '../../../src/smtp/proxy-protocol.ts';

function v2(command: number, family: number, addr: Buffer, tlv = Buffer.alloc(0)): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(addr.length + tlv.length);
  return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20 | command, family]), len, addr, tlv]);
}

function ipv4Block(src: number[], dst: number[], sport: number, dport: number): Buffer {
  const b = Buffer.alloc(12);
  Buffer.from(src).copy(b, 0);
  Buffer.from(dst).copy(b, 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return b;
}

test('v1: TCP4, TCP6 and UNKNOWN; the rest of the stream is not consumed', () => {
  const line = Buffer.from('PROXY TCP4 10.1.2.3 192.0.2.10 51000 25\r\nEHLO x\r\n');
  assert.deepEqual(parseProxyHeader(line), {
    status: 'ok',
    version: 1,
    consumed: 41,
    source: { address: '10.1.2.3', port: 51000 },
  });
  const six = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::5 2001:db8::1 4000 25\r\n'));
  assert.equal(six.status === 'ok' && six.source?.address, '2001:db8::5');
  const unknown = parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'));
  assert.deepEqual(unknown, { status: 'ok', version: 1, consumed: 15, source: null });
});

test('v1: incomplete until CRLF; malformed lines are refused', () => {
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY TCP4 10.1.2')), { status: 'incomplete' });
  assert.deepEqual(parseProxyHeader(Buffer.from('PRO')), { status: 'incomplete' });
  for (const bad of [
    'PROXY TCP4 10.1.2.3 192.0.2.10 51000\r\n',
    'PROXY TCP4 2001:db8::5 192.0.2.10 1 25\r\n',
    'PROXY TCP4 10.1.2.3 192.0.2.10 99999 25\r\n',
    'PROXY TCP4 10.1.2.3\r\n.evil 192.0.2.10 1 25\r\n',
    'PROXY TCP4 10.1.2.3 192.0.2.10 1 25\n',
    'EHLO printer\r\n',
    `PROXY TCP4 ${'1'.repeat(120)}`,
  ])
    assert.equal(parseProxyHeader(Buffer.from(bad)).status, 'invalid', JSON.stringify(bad));
});

test('v2: PROXY over IPv4 and IPv6 (IPv4-mapped reported as IPv4), TLVs skipped, LOCAL keeps the peer', () => {
  const h4 = v2(1, 0x11, ipv4Block([10, 1, 2, 3], [192, 0, 2, 10], 51000, 25), Buffer.from([0x04, 0, 1, 0]));
  const r4 = parseProxyHeader(Buffer.concat([h4, Buffer.from('EHLO x\r\n')]));
  assert.deepEqual(r4, {
    status: 'ok',
    version: 2,
    consumed: h4.length,
    source: { address: '10.1.2.3', port: 51000 },
  });

  const six = Buffer.alloc(36);
  Buffer.from('20010db8000000000000000000000005', 'hex').copy(six, 0);
  six.writeUInt16BE(4000, 32);
  const r6 = parseProxyHeader(v2(1, 0x21, six));
  assert.equal(r6.status === 'ok' && r6.source?.address, '2001:db8::5');
  const mapped = Buffer.alloc(36);
  Buffer.from('00000000000000000000ffff0a010203', 'hex').copy(mapped, 0);
  const rm = parseProxyHeader(v2(1, 0x21, mapped));
  assert.equal(rm.status === 'ok' && rm.source?.address, '10.1.2.3');

  assert.deepEqual(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0))), {
    status: 'ok',
    version: 2,
    consumed: 16,
    source: null,
  });
});

test('v2: incomplete headers wait; wrong version, command, transport or short blocks are refused', () => {
  const h4 = v2(1, 0x11, ipv4Block([10, 1, 2, 3], [192, 0, 2, 10], 1, 25));
  for (let cut = 1; cut < h4.length; cut += 5)
    assert.deepEqual(parseProxyHeader(h4.subarray(0, cut)), { status: 'incomplete' }, `cut ${cut}`);
  const wrongVersion = Buffer.from(h4);
  wrongVersion[12] = 0x11;
  assert.equal(parseProxyHeader(wrongVersion).status, 'invalid');
  const udp = Buffer.from(h4);
  udp[13] = 0x12;
  assert.equal(parseProxyHeader(udp).status, 'invalid');
  assert.equal(parseProxyHeader(v2(1, 0x11, Buffer.alloc(4))).status, 'invalid');
  assert.equal(parseProxyHeader(v2(7, 0x11, Buffer.alloc(12))).status, 'invalid');
  const huge = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])]);
  assert.equal(parseProxyHeader(huge).status, 'invalid');
});
