import { isIP } from 'node:net';

/**
 * PROXY protocol v1 (text) and v2 (binary) header parser, after HAProxy's proxy-protocol.txt.
 * Pure: given the bytes received so far it says whether a header is complete, malformed, or
 * needs more bytes. smtp-server reads v1 only, and from every peer it is told to trust; the
 * front door (front-door.ts) uses this for both versions, from configured balancers only.
 */

export const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
/** v1: "PROXY" + at most 107 bytes including CRLF. */
const V1_MAX_BYTES = 107;
/** v2: 16 fixed bytes + a length field; TLVs may follow the addresses. Cap what we buffer. */
const V2_MAX_BYTES = 16 + 2048;

export interface ProxySource {
  address: string;
  port: number;
}

export type ProxyParse =
  | { status: 'incomplete' }
  | { status: 'invalid'; reason: string }
  /** `source` is null for v1 UNKNOWN and v2 LOCAL (a health check: the balancer's own address stands). */
  | { status: 'ok'; version: 1 | 2; consumed: number; source: ProxySource | null };

export function parseProxyHeader(buf: Buffer): ProxyParse {
  if (buf.length === 0) return { status: 'incomplete' };
  if (buf[0] === 0x0d) return parseV2(buf);
  if (buf[0] === 0x50) return parseV1(buf);
  return { status: 'invalid', reason: 'connection did not start with a PROXY header' };
}

function parseV1(buf: Buffer): ProxyParse {
  const prefix = Buffer.from('PROXY ');
  const head = buf.subarray(0, Math.min(buf.length, prefix.length));
  if (!prefix.subarray(0, head.length).equals(head))
    return { status: 'invalid', reason: 'not a PROXY v1 header' };
  const lf = buf.indexOf(0x0a);
  if (lf < 0)
    return buf.length >= V1_MAX_BYTES
      ? { status: 'invalid', reason: 'PROXY v1 line too long' }
      : { status: 'incomplete' };
  if (lf + 1 > V1_MAX_BYTES || buf[lf - 1] !== 0x0d)
    return { status: 'invalid', reason: 'PROXY v1 line malformed' };
  const parts = buf
    .subarray(0, lf - 1)
    .toString('latin1')
    .split(' ');
  if (parts[1] === 'UNKNOWN') return { status: 'ok', version: 1, consumed: lf + 1, source: null };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6'))
    return { status: 'invalid', reason: 'PROXY v1 line malformed' };
  const [, family, src, , sport] = parts as [string, string, string, string, string, string];
  if (isIP(src) !== (family === 'TCP4' ? 4 : 6) || isIP(parts[3]!) !== (family === 'TCP4' ? 4 : 6))
    return { status: 'invalid', reason: 'PROXY v1 address malformed' };
  const port = portOf(sport);
  if (port === null || portOf(parts[5]!) === null)
    return { status: 'invalid', reason: 'PROXY v1 port malformed' };
  return { status: 'ok', version: 1, consumed: lf + 1, source: { address: src, port } };
}

function portOf(s: string): number | null {
  if (!/^\d{1,5}$/.test(s) || (s.length > 1 && s.startsWith('0'))) return null;
  const n = Number(s);
  return n <= 65535 ? n : null;
}

function parseV2(buf: Buffer): ProxyParse {
  const sig = buf.subarray(0, Math.min(buf.length, 12));
  if (!V2_SIGNATURE.subarray(0, sig.length).equals(sig))
    return { status: 'invalid', reason: 'not a PROXY v2 header' };
  if (buf.length < 16) return { status: 'incomplete' };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { status: 'invalid', reason: 'PROXY v2 version is not 2' };
  const command = verCmd & 0x0f;
  const len = buf.readUInt16BE(14);
  if (16 + len > V2_MAX_BYTES) return { status: 'invalid', reason: 'PROXY v2 header too long' };
  if (buf.length < 16 + len) return { status: 'incomplete' };
  const consumed = 16 + len;
  if (command === 0x0) return { status: 'ok', version: 2, consumed, source: null }; // LOCAL
  if (command !== 0x1) return { status: 'invalid', reason: 'PROXY v2 command unknown' };
  const family = buf[13]! >> 4;
  const transport = buf[13]! & 0x0f;
  const body = buf.subarray(16, consumed);
  if (transport !== 0x1 && family !== 0x0)
    return { status: 'invalid', reason: 'PROXY v2 transport is not TCP' };
  if (family === 0x1) {
    if (len < 12) return { status: 'invalid', reason: 'PROXY v2 IPv4 block too short' };
    return {
      status: 'ok',
      version: 2,
      consumed,
      source: { address: Array.from(body.subarray(0, 4)).join('.'), port: body.readUInt16BE(8) },
    };
  }
  if (family === 0x2) {
    if (len < 36) return { status: 'invalid', reason: 'PROXY v2 IPv6 block too short' };
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(body.readUInt16BE(i).toString(16));
    // An IPv4 client of a dual-stack balancer arrives IPv4-mapped; report it as IPv4.
    const mapped = body.subarray(0, 10).every((b) => b === 0) && body.readUInt16BE(10) === 0xffff;
    const address = mapped ? Array.from(body.subarray(12, 16)).join('.') : compressIpv6(groups);
    return { status: 'ok', version: 2, consumed, source: { address, port: body.readUInt16BE(32) } };
  }
  // AF_UNSPEC (or AF_UNIX): the balancer's own address stands, as for LOCAL.
  return { status: 'ok', version: 2, consumed, source: null };
}

/** RFC 5952 form ("::1"), as sockets report addresses; the URL parser canonicalises IPv6. */
function compressIpv6(groups: string[]): string {
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
}
