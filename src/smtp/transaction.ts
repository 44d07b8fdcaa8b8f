import type { Config } from '../config/schema.ts';
import type { ClientIdentity, ClientPolicy, ClientRule } from '../policy/clients.ts';
import { DeviceBudgets } from '../policy/device-budget.ts';
import {
  connectorSenderOutsideTenant,
  directSendOutsideTenant,
  senderRefusedByRoute,
} from '../policy/recipients.ts';
import { routeChooser } from '../policy/routing.ts';
import { replies, type SmtpError } from './replies.ts';

/** The current mail transaction: decided at MAIL FROM, used at RCPT and DATA. */
export interface Transaction {
  rule: ClientRule;
  route: string;
  budgetKey: string;
}

/**
 * MAIL FROM and RCPT TO decisions: the client policy, the per-device budgets and the route's
 * own limits, turned into catalogue replies. Holds no session state; the server keeps the
 * transaction this returns.
 */
export class TransactionPolicy {
  readonly #config: Readonly<Config>;
  readonly #policy: ClientPolicy;
  readonly #budgets: DeviceBudgets;
  readonly #chooseRoute: (clientIp: string, envelopeFrom: string) => string;
  readonly #maxSize: number;

  constructor(config: Readonly<Config>, policy: ClientPolicy, budgets: DeviceBudgets, maxSize: number) {
    this.#config = config;
    this.#policy = policy;
    this.#budgets = budgets;
    this.#chooseRoute = routeChooser(config);
    this.#maxSize = maxSize;
  }

  /** MAIL FROM: the transaction, or the reply refusing it. */
  async mail(id: ClientIdentity, sender: string, declaredSize: number): Promise<Transaction | SmtpError> {
    const verdict = this.#policy.decideMail(id, sender, declaredSize);
    if (!verdict.ok) {
      if (verdict.reason === 'auth-required') return replies.authRequired();
      if (verdict.reason === 'no-rule')
        return replies.relayDenied(id.user ? `${id.ip} (user ${id.user})` : id.ip);
      if (verdict.reason === 'sender') return replies.senderNotAllowedForClient(sender, verdict.rule.name);
      return replies.messageTooLarge(verdict.reason === 'size' ? verdict.limit : this.#maxSize);
    }
    const rule = verdict.rule;
    const budgetKey = DeviceBudgets.key(rule.name, id.user, id.ip);
    const rate = await this.#budgets.checkRate(budgetKey, rule.rate);
    if (!rate.ok) return replies.rateLimited(rate.max);
    const route = rule.route ?? this.#chooseRoute(id.ip, sender);
    const outside = connectorSenderOutsideTenant(this.#config, route, sender);
    if (outside) return replies.senderOutsideConnector(sender, outside.join(', '));
    const mailbox = senderRefusedByRoute(this.#config, route, sender, rule.mailbox);
    if (mailbox) return replies.senderNotAllowed(sender, mailbox);
    return { rule, route, budgetKey };
  }

  /** RCPT TO: null when the recipient may be added to `tx` (which has `accepted` already). */
  async rcpt(tx: Transaction, recipient: string, accepted: number): Promise<SmtpError | null> {
    if (!tx.rule.mayReach(recipient)) return replies.recipientNotAllowed(recipient, tx.rule.name);
    const quota = await this.#budgets.checkRecipients(tx.budgetKey, tx.rule.dailyRecipients, accepted);
    if (!quota.ok && quota.limit === 'daily') return replies.dailyQuota(quota.max, quota.resetsAt);
    const outside = directSendOutsideTenant(this.#config, tx.route, recipient);
    return outside ? replies.outsideDirectSend(recipient, outside.join(', ')) : null;
  }
}
