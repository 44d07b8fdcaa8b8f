import { type BudgetLedger, DAY_MS } from '../scheduler/ledger.ts';

/**
 * Per-client budgets from the client rules: messages a minute and recipients a day (UTC). The
 * counts live in the store's budget ledger: with PostgreSQL every node shares them, so a device
 * behind a load balancer gets its budget once, not once per node; with SQLite they are this
 * process's and a restart forgets them, which errs on the side of letting a device send (the
 * Microsoft 365 mailbox budgets, which matter more, are enforced at delivery). The key is the
 * rule plus the AUTH user, or the rule plus the client address without AUTH, so two printers
 * sharing a rule each get their own budget.
 *
 * Checks (MAIL, RCPT) and the count (after the 250) are separate steps, so sessions of one
 * device running side by side may pass a check together and overshoot by those few messages:
 * a device budget is a brake on a runaway device, not an accounting limit.
 */

export type BudgetVerdict =
  | { ok: true }
  | { ok: false; limit: 'rate'; max: number }
  | { ok: false; limit: 'daily'; max: number; resetsAt: number };

export class DeviceBudgets {
  readonly #ledger: BudgetLedger;
  readonly #now: () => number;

  constructor(ledger: BudgetLedger, now: () => number = Date.now) {
    this.#ledger = ledger;
    this.#now = now;
  }

  static key(rule: string, user: string | null, ip: string): string {
    return user === null ? `device:${rule}|ip:${ip}` : `device:${rule}|user:${user.toLowerCase()}`;
  }

  /** May this client start another message? (checked at MAIL FROM) */
  async checkRate(key: string, perMinute: number | undefined): Promise<BudgetVerdict> {
    if (perMinute === undefined) return { ok: true };
    const u = await this.#usage(key);
    return u.minute.length >= perMinute ? { ok: false, limit: 'rate', max: perMinute } : { ok: true };
  }

  /** May this client add one more recipient, `pending` already given in this transaction? (at RCPT) */
  async checkRecipients(key: string, perDay: number | undefined, pending: number): Promise<BudgetVerdict> {
    if (perDay === undefined) return { ok: true };
    const u = await this.#usage(key);
    if (u.recipients + pending + 1 <= perDay) return { ok: true };
    return { ok: false, limit: 'daily', max: perDay, resetsAt: startOfUtcDay(this.#now()) + DAY_MS };
  }

  /** Counts an accepted message (after the 250). */
  async record(key: string, recipients: number): Promise<void> {
    await this.#ledger.withKeys([key], (tx) => tx.spend(key, this.#now(), recipients));
  }

  #usage(key: string) {
    const now = this.#now();
    return this.#ledger.read(key, now, startOfUtcDay(now));
  }
}

function startOfUtcDay(t: number): number {
  return Math.floor(t / DAY_MS) * DAY_MS;
}
