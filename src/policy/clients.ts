import type { Config } from '../config/schema.ts';
import { cidrMatcher, domainOf } from '../util/address.ts';
import { parseSize } from '../util/units.ts';

/**
 * The relay's own "connectors": which client is this, and what may it send. Pure decisions over
 * the `clients` rules (first match wins); the SMTP adapter turns a refusal into a reply.
 */

/** What is known about a client when a decision is due. */
export interface ClientIdentity {
  listener: string;
  ip: string;
  /** SMTP AUTH user, or null before / without AUTH. */
  user: string | null;
  /** A client certificate that verified against the listener's clientCa, or null. */
  certificate: VerifiedCertificate | null;
}

export interface VerifiedCertificate {
  /** Subject CN and DNS subjectAltNames, lower-cased. */
  names: string[];
  /** SHA-256 fingerprint, lower-case hex without colons. */
  fingerprint: string;
}

export interface ClientRule {
  name: string;
  route: string | undefined;
  mailbox: string | undefined;
  rate: number | undefined;
  dailyRecipients: number | undefined;
  maxSize: number | undefined;
  /** Whether the rule needs an AUTH user (so AUTH would help a client that matches otherwise). */
  needsUser: boolean;
  /** Whether the rule needs a verified client certificate. */
  needsCertificate: boolean;
  matchesPlace(listener: string, ip: string): boolean;
  matches(id: ClientIdentity): boolean;
  mayUseSender(address: string, user: string | null): boolean;
  mayReach(recipient: string): boolean;
}

export type MailVerdict =
  | { ok: true; rule: ClientRule }
  | { ok: false; reason: 'no-rule' | 'auth-required' }
  | { ok: false; reason: 'sender'; rule: ClientRule }
  | { ok: false; reason: 'size'; rule: ClientRule; limit: number };

export class ClientPolicy {
  readonly rules: readonly ClientRule[];

  constructor(config: Readonly<Config>) {
    const internal = (config.relay.internalDomains ?? []).map((d) => d.toLowerCase());
    this.rules = config.clients.map((r) => compileRule(r, internal));
  }

  /** Whether any rule could apply to a client at this listener and address (checked at connect). */
  mayConnect(listener: string, ip: string): boolean {
    return this.rules.some((r) => r.matchesPlace(listener, ip));
  }

  /** The first rule that matches, or null. */
  match(id: ClientIdentity): ClientRule | null {
    return this.rules.find((r) => r.matches(id)) ?? null;
  }

  /**
   * Decides at MAIL FROM. Without a matching rule the reason says whether authenticating would
   * have helped (a rule for this place wants a user the client has not given), so the device
   * hears 530 instead of a flat 554.
   */
  decideMail(id: ClientIdentity, envelopeFrom: string, declaredSize: number): MailVerdict {
    const rule = this.match(id);
    if (!rule) {
      const authWouldHelp =
        id.user === null && this.rules.some((r) => r.needsUser && r.matchesPlace(id.listener, id.ip));
      return { ok: false, reason: authWouldHelp ? 'auth-required' : 'no-rule' };
    }
    if (envelopeFrom !== '' && !rule.mayUseSender(envelopeFrom, id.user))
      return { ok: false, reason: 'sender', rule };
    if (rule.maxSize !== undefined && declaredSize > rule.maxSize)
      return { ok: false, reason: 'size', rule, limit: rule.maxSize };
    return { ok: true, rule };
  }
}

type RuleConfig = Config['clients'][number];

function compileRule(r: RuleConfig, internalDomains: string[]): ClientRule {
  const listeners = r.match.listeners ? new Set(r.match.listeners) : null;
  const addresses = r.match.addresses ? cidrMatcher(r.match.addresses) : null;
  const users = r.match.users ? new Set(r.match.users) : null;
  const certs = r.match.certificates?.map((c) => c.toLowerCase()) ?? null;
  const senders = r.senders?.map((s) => s.toLowerCase()) ?? null;
  const recipientDomains =
    r.recipients === 'any'
      ? null
      : new Set((r.recipients === 'internal' ? internalDomains : r.recipients).map((d) => d.toLowerCase()));
  const matchesPlace = (listener: string, ip: string) =>
    (!listeners || listeners.has(listener)) && (!addresses || addresses(ip));
  return {
    name: r.name,
    route: r.route,
    mailbox: r.mailbox,
    rate: r.rate,
    dailyRecipients: r.dailyRecipients,
    maxSize: r.maxSize === undefined ? undefined : parseSize(r.maxSize),
    needsUser: users !== null,
    needsCertificate: certs !== null,
    matchesPlace,
    matches: (id) =>
      matchesPlace(id.listener, id.ip) &&
      (!users || (id.user !== null && (users.has('*') || users.has(id.user)))) &&
      (!certs || (id.certificate !== null && certs.some((c) => certificateMatches(c, id.certificate!)))),
    mayUseSender: (address, user) =>
      !senders || senders.some((p) => senderMatches(p, address.toLowerCase(), user)),
    mayReach: (recipient) => !recipientDomains || recipientDomains.has(domainOf(recipient)),
  };
}

function certificateMatches(entry: string, cert: VerifiedCertificate): boolean {
  if (entry.startsWith('sha256:')) return entry.slice(7).replace(/:/g, '') === cert.fingerprint;
  return cert.names.includes(entry);
}

/**
 * "a@x" exact, "@x" any address at domain x, "*" wildcards ("scan-*@x"), and "$user" for the
 * AUTH user itself (or "$user@x" when devices log in with a short name).
 */
export function senderMatches(pattern: string, address: string, user: string | null): boolean {
  let p = pattern;
  if (p.includes('$user')) {
    if (user === null) return false;
    p = p.replaceAll('$user', user.toLowerCase());
  }
  if (p.startsWith('@')) return domainOf(address) === p.slice(1);
  if (!p.includes('*')) return p === address;
  const re = new RegExp(`^${p.split('*').map(escapeRegExp).join('.*')}$`);
  return re.test(address);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
