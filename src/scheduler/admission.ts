import type { Config } from '../config/schema.ts';
import { domainOf } from '../util/address.ts';
import { MailboxBudgets } from './budgets.ts';

export type Admission =
  | { ok: true; mailbox: string | undefined }
  /** `key` is the mailbox (or tenant) whose budget is spent. */
  | { ok: false; until: number; reason: string; key: string };

/**
 * Whether a message may be sent now, and by which mailbox: the per-mailbox budgets (a pool's
 * mailbox with the most headroom wins) and, when configured, the tenant's budget for external
 * recipients (TERRL). Admitting a message counts it against the budgets it used.
 */
export class Scheduler {
  readonly #config: Readonly<Config>;
  readonly #mailboxes: MailboxBudgets;
  readonly #tenants: MailboxBudgets | null;

  constructor(config: Readonly<Config>, now: () => number) {
    this.#config = config;
    const b = config.budgets;
    const overrides = new Map(Object.entries(b.mailboxes).map(([k, v]) => [k.toLowerCase(), v]));
    this.#mailboxes = new MailboxBudgets(
      (mailbox) => ({
        messagesPerMinute: overrides.get(mailbox.toLowerCase())?.messagesPerMinute ?? b.messagesPerMinute,
        recipientsPerDay: overrides.get(mailbox.toLowerCase())?.recipientsPerDay ?? b.recipientsPerDay,
      }),
      now,
    );
    const terrl = b.externalRecipientsPerDay;
    this.#tenants = terrl
      ? new MailboxBudgets(
          () => ({ messagesPerMinute: Number.MAX_SAFE_INTEGER, recipientsPerDay: terrl }),
          now,
        )
      : null;
  }

  /** `candidates`: the mailboxes the route's transport says may send it (empty: no mailbox budget). */
  admit(route: string, candidates: string[], recipients: { address: string }[]): Admission {
    const external = this.#external(route, recipients);
    if (external) {
      const v = this.#tenants!.check(external.key, external.count);
      if (!v.ok) return { ...v, key: external.key };
    }
    let mailbox: string | undefined;
    if (candidates.length > 0) {
      let best: { mailbox: string; headroom: number } | null = null;
      let wait: { until: number; reason: string } | null = null;
      for (const m of candidates) {
        const v = this.#mailboxes.check(m, recipients.length);
        if (v.ok) {
          const headroom = this.#mailboxes.headroom(m);
          if (!best || headroom > best.headroom) best = { mailbox: m, headroom };
        } else if (!wait || v.until < wait.until) wait = v;
      }
      if (!best) return { ok: false, ...wait!, key: candidates[0]! };
      mailbox = best.mailbox;
      this.#mailboxes.record(mailbox, recipients.length);
    }
    if (external) this.#tenants!.record(external.key, external.count);
    return { ok: true, mailbox };
  }

  /** A quota or block refusal stops that mailbox until `until` (a pool's others carry on). */
  pauseMailbox(mailbox: string, until: number, reason: string): void {
    this.#mailboxes.pause(mailbox, until, reason);
  }

  /** The tenant of a Microsoft 365 route and how many recipients are outside its accepted domains. */
  #external(route: string, recipients: { address: string }[]): { key: string; count: number } | null {
    const t = this.#config.routes[route]?.transport;
    if (!this.#tenants || t?.kind !== 'm365') return null;
    const accepted = new Set(
      (this.#config.microsoft365.tenants[t.tenant]?.acceptedDomains ?? []).map((d) => d.toLowerCase()),
    );
    const count = recipients.filter((r) => !accepted.has(domainOf(r.address))).length;
    return count > 0 ? { key: `tenant ${t.tenant} (external recipients)`, count } : null;
  }
}
