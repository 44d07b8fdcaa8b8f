/**
 * Per-client budgets from the client rules: messages a minute and recipients a day (UTC). Kept
 * in memory on this node: a restart forgets them, which errs on the side of letting a device
 * send (the Microsoft 365 mailbox budgets, which matter more, are enforced at delivery). The
 * key is the rule plus the AUTH user, or the rule plus the client address without AUTH, so
 * two printers sharing a rule each get their own budget.
 */

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

interface Usage {
  /** Acceptance times of the messages in the last minute. */
  recent: number[];
  day: number;
  recipients: number;
}

export type BudgetVerdict =
  | { ok: true }
  | { ok: false; limit: 'rate'; max: number }
  | { ok: false; limit: 'daily'; max: number; resetsAt: number };

export class DeviceBudgets {
  readonly #usage = new Map<string, Usage>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  static key(rule: string, user: string | null, ip: string): string {
    return user === null ? `${rule}|ip:${ip}` : `${rule}|user:${user.toLowerCase()}`;
  }

  /** May this client start another message? (checked at MAIL FROM) */
  checkRate(key: string, perMinute: number | undefined): BudgetVerdict {
    if (perMinute === undefined) return { ok: true };
    const u = this.#fresh(key);
    return u.recent.length >= perMinute ? { ok: false, limit: 'rate', max: perMinute } : { ok: true };
  }

  /** May this client add one more recipient, `pending` already given in this transaction? (at RCPT) */
  checkRecipients(key: string, perDay: number | undefined, pending: number): BudgetVerdict {
    if (perDay === undefined) return { ok: true };
    const u = this.#fresh(key);
    if (u.recipients + pending + 1 <= perDay) return { ok: true };
    return { ok: false, limit: 'daily', max: perDay, resetsAt: (u.day + 1) * DAY_MS };
  }

  /** Counts an accepted message (after the 250). */
  record(key: string, recipients: number): void {
    const u = this.#fresh(key);
    u.recent.push(this.#now());
    u.recipients += recipients;
  }

  #fresh(key: string): Usage {
    const now = this.#now();
    const today = Math.floor(now / DAY_MS);
    let u = this.#usage.get(key);
    if (!u) {
      u = { recent: [], day: today, recipients: 0 };
      this.#usage.set(key, u);
    }
    if (u.day !== today) {
      u.day = today;
      u.recipients = 0;
    }
    while (u.recent.length > 0 && u.recent[0]! <= now - MINUTE_MS) u.recent.shift();
    return u;
  }
}
