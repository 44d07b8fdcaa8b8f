import { BlockList, isIP } from 'node:net';

/** The domain part of an address, lower-cased; '' for the null sender or a bare local part. */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase();
}

/** Strips the IPv4-mapped IPv6 prefix that dual-stack sockets report ("::ffff:10.0.0.5"). */
export function normaliseIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** Builds a matcher for a list of addresses and CIDR ranges ("10.0.0.0/8", "::1", "192.0.2.7"). */
export function cidrMatcher(entries: readonly string[]): (ip: string) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const [addr, prefix] = entry.split('/');
    const family = isIP(addr ?? '');
    if (!family) throw new Error(`invalid address or CIDR "${entry}"`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(addr!, type);
    else {
      const bits = Number(prefix);
      if (!Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32))
        throw new Error(`invalid prefix length in "${entry}"`);
      list.addSubnet(addr!, bits, type);
    }
  }
  return (ip: string) => {
    const clean = normaliseIp(ip);
    const family = isIP(clean);
    if (!family) return false;
    return list.check(clean, family === 6 ? 'ipv6' : 'ipv4');
  };
}
