import { Resolver } from 'node:dns/promises';

import type { OutboundMessage, SendResult, Transport } from './transport.ts';

/**
 * Direct send and connector relay to "the MX record of a domain": the host is looked up, never
 * derived from a hard-coded suffix (Microsoft is moving domains from mail.protection.outlook.com
 * to mx.microsoft, facts §4.2). The lowest-preference MX wins; its address is resolved with the
 * same resolver, and the certificate is checked against the MX name.
 */
export class MxLookupTransport implements Transport {
  readonly kind: string;
  readonly #domain: string;
  readonly #resolver: Resolver;
  readonly #make: (host: string, servername: string) => Transport;
  readonly #byHost = new Map<string, Transport>();
  #cached: { host: string; servername: string; until: number } | null = null;

  constructor(
    kind: string,
    domain: string,
    dnsServers: readonly string[],
    make: (host: string, servername: string) => Transport,
  ) {
    this.kind = kind;
    this.#domain = domain;
    this.#resolver = new Resolver({ timeout: 5000, tries: 2 });
    if (dnsServers.length) this.#resolver.setServers([...dnsServers]);
    this.#make = make;
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const target = await this.#lookup();
    let transport = this.#byHost.get(target.host);
    if (!transport) this.#byHost.set(target.host, (transport = this.#make(target.host, target.servername)));
    return transport.send(message);
  }

  async #lookup(): Promise<{ host: string; servername: string }> {
    if (this.#cached && this.#cached.until > Date.now()) return this.#cached;
    try {
      const mx = (await this.#resolver.resolveMx(this.#domain)).sort((a, b) => a.priority - b.priority)[0];
      if (!mx) throw new Error('no MX record');
      const [address] = await this.#resolver.resolve4(mx.exchange);
      if (!address) throw new Error(`no address for ${mx.exchange}`);
      // Cached for five minutes: the MX of a tenant changes rarely, a look-up per message is waste.
      this.#cached = { host: address, servername: mx.exchange, until: Date.now() + 300_000 };
      return this.#cached;
    } catch (cause) {
      // EDNS: the classifier retries it (category dns), and a route falls over to its next method.
      throw Object.assign(
        new Error(`MX look-up for ${this.#domain} failed: ${(cause as Error).message}`, { cause }),
        { code: 'EDNS' },
      );
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#byHost.values()].map((t) => t.close()));
  }
}
