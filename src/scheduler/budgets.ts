/**
 * Per-mailbox sending budgets, so the relay never walks into Microsoft's throttling (facts §3):
 * messages per minute and recipients per rolling 24 hours for each sending mailbox, plus a
 * pause a quota refusal puts on the mailbox. Pure arithmetic over an injected clock; the
 * delivery worker asks before each send and records what it sent. (Connections per mailbox
 * are capped by the transport's pool, three for Exchange, so they need no budget here.)
 *
 * In memory, per delivery thread: after a restart the first minute may see up to one more
 * minute's worth (Exchange then carries messages over rather than refusing them); shared
 * budgets across nodes come with the PostgreSQL store.
 */
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

export interface MailboxLimits {
  messagesPerMinute: number;
  recipientsPerDay: number;
}

export type BudgetVerdict = { ok: true } | { ok: false; until: number; reason: string };

interface Usage {
  /** Send times in the last minute. */
  messages: number[];
  /** [time, recipients] in the last 24 h, oldest first. */
  recipients: [number, number][];
  recipientTotal: number;
  pausedUntil: number;
  pauseReason: string;
}

export class MailboxBudgets {
  readonly #usage = new Map<string, Usage>();
  readonly #limits: (mailbox: string) => MailboxLimits;
  readonly #now: () => number;

  constructor(limits: (mailbox: string) => MailboxLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Whether `mailbox` may send a message to `recipients` recipients now; if not, until when and why. */
  check(mailbox: string, recipients: number): BudgetVerdict {
    const now = this.#now();
    const u = this.#fresh(mailbox, now);
    const limits = this.#limits(mailbox);
    if (u.pausedUntil > now) return { ok: false, until: u.pausedUntil, reason: u.pauseReason };
    if (u.messages.length >= limits.messagesPerMinute)
      return {
        ok: false,
        until: u.messages[u.messages.length - limits.messagesPerMinute]! + MINUTE_MS,
        reason: `${mailbox} sent ${limits.messagesPerMinute} messages in the last minute (Exchange allows ${limits.messagesPerMinute})`,
      };
    // A message bigger than a whole day's budget can never fit: let it go and let Exchange say so.
    const need = Math.min(recipients, limits.recipientsPerDay);
    if (u.recipientTotal + need > limits.recipientsPerDay) {
      let freed = u.recipientTotal;
      let until = now;
      for (const [t, n] of u.recipients) {
        freed -= n;
        until = t + DAY_MS;
        if (freed + need <= limits.recipientsPerDay) break;
      }
      return {
        ok: false,
        until,
        reason: `${mailbox} reached ${limits.recipientsPerDay} recipients in 24 hours (${u.recipientTotal} sent)`,
      };
    }
    return { ok: true };
  }

  /** Counts a message as sent by `mailbox` now (called when the send starts). */
  record(mailbox: string, recipients: number): void {
    const now = this.#now();
    const u = this.#fresh(mailbox, now);
    u.messages.push(now);
    u.recipients.push([now, recipients]);
    u.recipientTotal += recipients;
  }

  /** Stops the mailbox until `until` (a quota or block refusal from Exchange). */
  pause(mailbox: string, until: number, reason: string): void {
    const u = this.#fresh(mailbox, this.#now());
    if (until > u.pausedUntil) {
      u.pausedUntil = until;
      u.pauseReason = reason;
    }
  }

  /** Remaining budget, for choosing among a pool of mailboxes: the smaller of the two headrooms, as a share. */
  headroom(mailbox: string): number {
    const u = this.#fresh(mailbox, this.#now());
    if (u.pausedUntil > this.#now()) return 0;
    const l = this.#limits(mailbox);
    return Math.min(
      (l.messagesPerMinute - u.messages.length) / l.messagesPerMinute,
      (l.recipientsPerDay - u.recipientTotal) / l.recipientsPerDay,
    );
  }

  #fresh(mailbox: string, now: number): Usage {
    const key = mailbox.toLowerCase();
    let u = this.#usage.get(key);
    if (!u) {
      u = { messages: [], recipients: [], recipientTotal: 0, pausedUntil: 0, pauseReason: '' };
      this.#usage.set(key, u);
    }
    while (u.messages.length > 0 && u.messages[0]! <= now - MINUTE_MS) u.messages.shift();
    while (u.recipients.length > 0 && u.recipients[0]![0] <= now - DAY_MS)
      u.recipientTotal -= u.recipients.shift()![1];
    return u;
  }
}
