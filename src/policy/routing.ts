import type { Config } from '../config/schema.ts';
import { cidrMatcher, domainOf } from '../util/address.ts';

/**
 * Which route serves a message: the first rule of relay.routing whose clients and sender
 * domains both match (a missing list matches anything), else relay.defaultRoute. Built once
 * from the config; called at MAIL FROM, when both facts are known.
 */
export function routeChooser(config: Readonly<Config>): (clientIp: string, envelopeFrom: string) => string {
  const rules = config.relay.routing.map((r) => ({
    clients: r.clients ? cidrMatcher(r.clients) : null,
    domains: r.senderDomains ? new Set(r.senderDomains.map((d) => d.toLowerCase())) : null,
    route: r.route,
  }));
  return (clientIp, envelopeFrom) => {
    const domain = domainOf(envelopeFrom);
    for (const r of rules) {
      if (r.clients && !r.clients(clientIp)) continue;
      if (r.domains && !r.domains.has(domain)) continue;
      return r.route;
    }
    return config.relay.defaultRoute;
  };
}
