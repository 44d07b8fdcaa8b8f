import type { Config } from '../config/schema.ts';
import { domainOf } from '../util/address.ts';
import { checkBudget, mailboxKey, type MailboxLimits } from './budgets.ts';
import type { BudgetLedger, SpendRef } from './ledger.ts';

export type Admission =
  /** `spent`: what was counted, for restamp when the message has actually gone. */
  | { ok: true; mailbox: string | undefined; spent: SpendRef[] }
  /** `key` is the mailbox (or tenant) whose budget is spent. */
  | { ok: false; until: number; reason: string; key: string };

/**
 * Whether a message may be sent now, and by which mailbox: the per-mailbox budgets (a pool's
 * mailbox with the most headroom wins) and, when configured, the tenant's budget for external
 * recipients (TERRL). Admitting a message counts it against the budgets it used, inside one
 * ledger transaction, so two deliveries (or two nodes) cannot both take the last slot.
 */
export class Scheduler {
  readonly #config: Readonly<Config>;
  readonly #ledger: BudgetLedger;
  readonly #now: () => number;
  readonly #limits: (mailbox: string) => MailboxLimits;

  constructor(config: Readonly<Config>, ledger: BudgetLedger, now: () => number) {
    this.#config = config;
    this.#ledger = ledger;
    this.#now = now;
    const b = config.budgets;
    const overrides = new Map(Object.entries(b.mailboxes).map(([k, v]) => [k.toLowerCase(), v]));
    this.#limits = (mailbox) => ({
      messagesPerMinute: overrides.get(mailbox.toLowerCase())?.messagesPerMinute ?? b.messagesPerMinute,
      recipientsPerDay: overrides.get(mailbox.toLowerCase())?.recipientsPerDay ?? b.recipientsPerDay,
    });
  }

  /** `candidates`: the mailboxes the route's transport says may send it (empty: no mailbox budget). */
  async admit(route: string, candidates: string[], recipients: { address: string }[]): Promise<Admission> {
    const external = this.#external(route, recipients);
    if (!external && candidates.length === 0) return { ok: true, mailbox: undefined, spent: [] };
    const keys = [...(external ? [external.ledgerKey] : []), ...candidates.map(mailboxKey)];
    return this.#ledger.withKeys(keys, async (tx): Promise<Admission> => {
      const now = this.#now();
      if (external) {
        const limits = { messagesPerMinute: Number.MAX_SAFE_INTEGER, recipientsPerDay: external.limit };
        const v = await checkBudget(tx, external.ledgerKey, external.key, limits, external.count, now);
        if (!v.ok) return { ok: false, until: v.until, reason: v.reason, key: external.key };
      }
      let mailbox: string | undefined;
      const spent: SpendRef[] = [];
      if (candidates.length > 0) {
        let best: { mailbox: string; headroom: number } | null = null;
        let wait: { until: number; reason: string } | null = null;
        for (const m of candidates) {
          const v = await checkBudget(tx, mailboxKey(m), m, this.#limits(m), recipients.length, now);
          if (v.ok) {
            if (!best || v.headroom > best.headroom) best = { mailbox: m, headroom: v.headroom };
          } else if (!wait || v.until < wait.until) wait = { until: v.until, reason: v.reason };
        }
        if (!best) return { ok: false, ...wait!, key: candidates[0]! };
        mailbox = best.mailbox;
        spent.push(await tx.spend(mailboxKey(mailbox), now, recipients.length));
      }
      if (external) spent.push(await tx.spend(external.ledgerKey, now, external.count));
      return { ok: true, mailbox, spent };
    });
  }

  /** The admitted message has left (or failed to): count it from now, when Exchange saw it. */
  sent(spent: readonly SpendRef[]): Promise<void> {
    return this.#ledger.restamp(spent, this.#now());
  }

  /** A quota or block refusal stops that mailbox until `until` (a pool's others carry on). */
  pauseMailbox(mailbox: string, until: number, reason: string): Promise<void> {
    return this.#ledger.pause(mailboxKey(mailbox), until, reason);
  }

  /** The tenant of a Microsoft 365 route and how many recipients are outside its accepted domains. */
  #external(
    route: string,
    recipients: { address: string }[],
  ): { key: string; ledgerKey: string; count: number; limit: number } | null {
    const t = this.#config.routes[route]?.transport;
    const limit = this.#config.budgets.externalRecipientsPerDay;
    if (!limit || t?.kind !== 'm365') return null;
    const accepted = new Set(
      (this.#config.microsoft365.tenants[t.tenant]?.acceptedDomains ?? []).map((d) => d.toLowerCase()),
    );
    const count = recipients.filter((r) => !accepted.has(domainOf(r.address))).length;
    return count > 0
      ? { key: `tenant ${t.tenant} (external recipients)`, ledgerKey: `tenant:${t.tenant}`, count, limit }
      : null;
  }
}
