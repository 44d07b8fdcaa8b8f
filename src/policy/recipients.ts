import type { Config } from '../config/schema.ts';
import { mayUse, sendingMailbox } from '../delivery/sender-identity.ts';
import { domainOf } from '../util/address.ts';

/**
 * Refuses at RCPT what a route cannot deliver, so the device hears it at once instead of a
 * bounce an hour later. Today: a route that only does Microsoft 365 direct send reaches the
 * tenant's own domains and nothing else (facts §3.5, §7). Returns the accepted domains the
 * recipient is outside of, or null when the recipient is fine.
 */
export function directSendOutsideTenant(
  config: Readonly<Config>,
  routeName: string,
  recipient: string,
): string[] | null {
  const t = config.routes[routeName]?.transport;
  if (!t || t.kind !== 'm365' || t.methods.length !== 1 || t.methods[0] !== 'direct-send') return null;
  const domains = config.microsoft365.tenants[t.tenant]?.acceptedDomains ?? [];
  const d = domainOf(recipient);
  return domains.some((a) => a.toLowerCase() === d) ? null : domains;
}

/**
 * With sender.fromPolicy reject, an envelope sender the route's mailbox may not send as is
 * refused at MAIL FROM (rather than by Exchange with 5.7.60 later). Returns the mailbox that
 * would have sent, or null when the sender is fine.
 */
export function senderRefusedByRoute(
  config: Readonly<Config>,
  routeName: string,
  envelopeFrom: string,
  assignedMailbox?: string,
): string | null {
  const t = config.routes[routeName]?.transport;
  if (!t || t.kind !== 'm365' || t.sender.fromPolicy !== 'reject' || envelopeFrom === '') return null;
  if (!t.methods.some((m) => m === 'submission' || m === 'graph')) return null;
  const settings = { mailbox: t.mailbox, ...t.sender };
  const mailbox = sendingMailbox(settings, envelopeFrom, assignedMailbox);
  return mayUse(settings, mailbox, envelopeFrom) ? null : mailbox;
}

/**
 * Connector relay accepts mail whose sender is in one of the tenant's accepted domains (facts
 * §4.1); a route that only relays through a connector refuses other senders at MAIL FROM
 * instead of letting Exchange bounce them. Returns the accepted domains, or null when fine.
 */
export function connectorSenderOutsideTenant(
  config: Readonly<Config>,
  routeName: string,
  envelopeFrom: string,
): string[] | null {
  const t = config.routes[routeName]?.transport;
  if (!t || t.kind !== 'm365' || !t.methods.every((m) => m === 'connector') || envelopeFrom === '')
    return null;
  const domains = config.microsoft365.tenants[t.tenant]?.acceptedDomains ?? [];
  if (domains.length === 0) return null; // unknown: let Exchange decide
  const d = domainOf(envelopeFrom);
  return domains.some((a) => a.toLowerCase() === d) ? null : domains;
}
