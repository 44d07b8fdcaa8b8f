import { DAY_MS, type LedgerTx, MINUTE_MS, type Usage } from './ledger.ts';

/**
 * Per-mailbox sending budgets, so the relay never walks into Microsoft's throttling (facts §3):
 * messages per minute and recipients per rolling 24 hours for each sending mailbox, plus a
 * pause a quota refusal puts on the mailbox. The decision is pure arithmetic over the usage a
 * ledger transaction reads (ledger.ts), so it is the same whether the counts live in this
 * process or in a database several nodes share. (Connections per mailbox and Graph's
 * requests at once are concurrency, not budgets: slots.ts counts them.)
 */

export interface MailboxLimits {
  messagesPerMinute: number;
  recipientsPerDay: number;
}

export type BudgetVerdict = { ok: true } | { ok: false; until: number; reason: string };

/** The ledger key of a mailbox's budget (addresses compare case-insensitively). */
export function mailboxKey(mailbox: string): string {
  return `mailbox:${mailbox.toLowerCase()}`;
}

/**
 * Whether `name` (whose budget is `key`) may send a message to `recipients` recipients now;
 * if not, until when and why.
 */
export async function checkBudget(
  tx: LedgerTx,
  key: string,
  name: string,
  limits: MailboxLimits,
  recipients: number,
  now: number,
): Promise<BudgetVerdict & { headroom: number }> {
  const u = await tx.usage(key, now, now - DAY_MS);
  const headroom = headroomOf(u, limits);
  if (u.pausedUntil > now) return { ok: false, until: u.pausedUntil, reason: u.pauseReason, headroom };
  if (u.minute.length >= limits.messagesPerMinute)
    return {
      ok: false,
      until: u.minute[u.minute.length - limits.messagesPerMinute]! + MINUTE_MS,
      reason: `${name} sent ${limits.messagesPerMinute} messages in the last minute (Exchange allows ${limits.messagesPerMinute})`,
      headroom,
    };
  // A message bigger than a whole day's budget can never fit: let it go and let Exchange say so.
  const need = Math.min(recipients, limits.recipientsPerDay);
  if (u.recipients + need > limits.recipientsPerDay)
    return {
      ok: false,
      until: await tx.freedAt(key, now, DAY_MS, limits.recipientsPerDay, need),
      reason: `${name} reached ${limits.recipientsPerDay} recipients in 24 hours (${u.recipients} sent)`,
      headroom,
    };
  return { ok: true, headroom };
}

/** Remaining budget, for choosing among a pool of mailboxes: the smaller of the two headrooms, as a share. */
function headroomOf(u: Usage, limits: MailboxLimits): number {
  if (u.pausedUntil > 0) return 0;
  return Math.min(
    (limits.messagesPerMinute - u.minute.length) / limits.messagesPerMinute,
    (limits.recipientsPerDay - u.recipients) / limits.recipientsPerDay,
  );
}
