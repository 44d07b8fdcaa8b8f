/**
 * The queue store contract. Every backend (SQLite, PostgreSQL) implements this
 * interface and passes the shared contract suite (test/integration/store-contract.test.ts);
 * nothing outside main.ts knows which backend is in use.
 */
import type { BudgetLedger } from '../scheduler/ledger.ts';

export type RecipientState = 'queued' | 'deferred' | 'delivered' | 'failed';
/** `active`: some recipient still pending; `done`: every recipient delivered or failed. */
export type MessageState = 'active' | 'done';

export const PENDING_STATES: readonly RecipientState[] = ['queued', 'deferred'];

export interface ClientInfo {
  ip: string;
  helo: string;
  listener: string;
  user: string | null;
  /** Negotiated TLS protocol ("TLSv1.3") or null for a plain session. */
  tls: string | null;
  /** The client rule that let the message in (clients[].name). */
  rule?: string;
  /** The Microsoft 365 mailbox that rule assigns, which overrides the route's sender mapping. */
  mailbox?: string;
}

/** DSN parameters from the submission (RFC 3461), kept for bounces and for the upstream. */
export interface DsnEnvelope {
  ret: 'FULL' | 'HDRS' | null;
  envid: string | null;
}

export interface NewRecipient {
  address: string;
  /** NOTIFY values (NEVER, SUCCESS, FAILURE, DELAY) or null when the client sent none. */
  notify: string[] | null;
  /** ORCPT as received, e.g. "rfc822;user@example.com". */
  orcpt: string | null;
}

/** What every message carries from acceptance on, queued or not. */
export interface MessageMeta {
  id: string;
  receivedAt: number;
  /** Envelope sender; '' is the null sender (<>). */
  mailFrom: string;
  dsn: DsnEnvelope;
  smtputf8: boolean;
  bodyType: '7bit' | '8bitmime';
  client: ClientInfo;
  route: string;
  messageIdHeader: string | null;
  expiresAt: number;
}

export interface NewMessage extends MessageMeta {
  recipients: NewRecipient[];
  /** Identity for duplicate suppression (findDuplicate), when the message has one. */
  dedupKey?: string | null;
  /** The message as it will be sent upstream (with our Received: header). */
  body: Buffer;
}

export interface Recipient {
  id: number;
  address: string;
  notify: string[] | null;
  orcpt: string | null;
  state: RecipientState;
  attempts: number;
  lastReply: string | null;
  updatedAt: number;
}

export interface QueuedMessage extends MessageMeta {
  size: number;
  state: MessageState;
  attempts: number;
  nextAttemptAt: number;
  lastReply: string | null;
  recipients: Recipient[];
  /** Held by an operator: never claimed until released. */
  held: boolean;
  /** Why the scheduler put the message back without trying (a mailbox budget), until its next attempt. */
  throttleReason: string | null;
  /** The mailbox that sends it (known once the scheduler has looked at it), or null. */
  mailbox: string | null;
}

export interface ClaimedMessage extends QueuedMessage {
  leaseOwner: string;
  leaseUntil: number;
}

export type AttemptOutcomeKind = 'delivered' | 'deferred' | 'failed';

export interface RecipientResult {
  recipientId: number;
  outcome: AttemptOutcomeKind;
  /** The upstream's reply or our own explanation, one line. */
  reply: string;
  /** Classifier category (e.g. "rejected", "network", "expired"). */
  category: string;
}

export interface AttemptReport {
  messageId: string;
  owner: string;
  startedAt: number;
  durationMs: number;
  transport: string;
  upstream: string | null;
  results: RecipientResult[];
  /** When to try the still-pending recipients again (ignored when none is pending). */
  nextAttemptAt: number;
  /** The mailbox that sent, when the route has one. */
  mailbox?: string | null;
}

export interface Attempt {
  id: number;
  recipientId: number;
  startedAt: number;
  durationMs: number;
  transport: string;
  upstream: string | null;
  outcome: AttemptOutcomeKind;
  reply: string;
  category: string;
}

export interface MessageDetail extends QueuedMessage {
  history: Attempt[];
}

export interface ListFilter {
  state?: MessageState;
  route?: string;
  /** Envelope sender, exact (case-insensitive). */
  sender?: string;
  /** Messages with at least one recipient at this domain. */
  recipientDomain?: string;
  held?: boolean;
  /** Only messages the scheduler is holding back (throttleReason set). */
  throttled?: boolean;
  limit?: number;
  offset?: number;
}

/** The queue views operators ask for (CLI --state, API ?state=), as list filters. */
export const QUEUE_VIEWS: Readonly<Record<string, ListFilter>> = {
  active: { state: 'active' },
  done: { state: 'done' },
  held: { state: 'active', held: true },
  throttled: { state: 'active', throttled: true },
};

export interface QueueStats {
  active: number;
  done: number;
  recipients: Record<RecipientState, number>;
  oldestActiveAt: number | null;
  byRoute: Record<string, { active: number; oldestActiveAt: number | null }>;
  /** Active messages by sending mailbox (those the scheduler has assigned one). */
  byMailbox: Record<string, { active: number; throttled: number; oldestActiveAt: number | null }>;
  held: number;
}

export interface ClaimOptions {
  now: number;
  limit: number;
  leaseMs: number;
  /** Only messages of these routes; all when omitted. */
  routes?: readonly string[];
}

export interface QueueStore extends TraceStore {
  /** Durable when the promise resolves: the caller may then answer 250. */
  enqueue(message: NewMessage): Promise<void>;
  /** Takes up to `limit` due, unleased messages and leases them to `owner`. */
  claimDue(owner: string, options: ClaimOptions): Promise<ClaimedMessage[]>;
  readBody(id: string): Promise<Buffer>;
  /** Records one attempt's per-recipient results and releases the lease. */
  recordAttempt(report: AttemptReport): Promise<void>;
  /** Gives a claimed message back untouched (shutdown mid-delivery). */
  releaseLease(id: string, owner: string): Promise<void>;
  /**
   * Gives a claimed message back without an attempt: its mailbox has no budget until `until`.
   * The reason and mailbox are kept for queue list and stats until the next attempt.
   */
  throttle(id: string, owner: string, until: number, reason: string, mailbox: string): Promise<void>;
  /** Holds (true) or releases (false) an active message; false if it does not exist or is done. */
  setHeld(id: string, held: boolean): Promise<boolean>;
  /**
   * Ends every pending recipient of an active, unleased message as failed with `reply`
   * (an operator's "bounce now"); returns the recipients it failed, empty if none.
   */
  failPending(id: string, reply: string, now: number): Promise<Recipient[]>;
  /** The newest message with this dedup key received at or after `since`, or null. */
  findDuplicate(key: string, since: number): Promise<string | null>;
  /** Marks that a delay notice went out for this message; false if one already had. */
  markDelayNotified(id: string): Promise<boolean>;
  /** Earliest next attempt among active messages, or null when nothing is waiting. */
  nextDueAt(): Promise<number | null>;
  get(id: string): Promise<MessageDetail | null>;
  list(filter?: ListFilter): Promise<QueuedMessage[]>;
  /** Makes an active message due now; false if it does not exist or is done. */
  retryNow(id: string, now: number): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  stats(): Promise<QueueStats>;
  /**
   * Calls `onNew` soon after any process enqueues a message, where the backend can tell
   * (PostgreSQL LISTEN/NOTIFY); returns the unsubscribe function. Absent: poll.
   */
  subscribe?(onNew: () => void): Promise<() => Promise<void>>;
  /**
   * Where sending budgets are counted (mailboxes, tenants, devices): shared by every node that
   * uses the same database where the backend can share it (PostgreSQL), else this process's own.
   */
  ledger(): BudgetLedger;
  /** Removes done messages finished before `before`; returns how many. */
  purgeDone(before: number): Promise<number>;
  close(): Promise<void>;
}

/** Per-recipient trace statuses, as in Exchange's message trace (facts §6) plus the relay's own. */
export const TRACE_STATUSES = ['Delivered', 'Pending', 'Failed', 'Throttled', 'Held', 'Expired'] as const;
export type TraceStatus = (typeof TRACE_STATUSES)[number];

export interface TraceQuery {
  /** Envelope sender; `*` is a wildcard ("*@contoso.com"). */
  sender?: string;
  /** Recipient; `*` is a wildcard. */
  recipient?: string;
  status?: TraceStatus;
  /** Received at or after / before (ms since the epoch). */
  since?: number;
  until?: number;
  messageId?: string;
  clientIp?: string;
  /** Client rule name or AUTH user. */
  device?: string;
  limit?: number;
  offset?: number;
}

export interface TraceRow {
  queueId: string;
  receivedAt: number;
  sender: string;
  recipient: string;
  status: TraceStatus;
  lastReply: string | null;
  attempts: number;
  messageIdHeader: string | null;
  size: number;
  route: string;
  client: ClientInfo;
}

export interface TraceEvent {
  at: number;
  /** Receive, Queue, Throttle, Held, Released, Attempt, Deliver, Defer, Fail, Expire, Bounce, Duplicate. */
  event: string;
  recipient: string | null;
  detail: string;
}

/** A refused SMTP command: who, where, and what they were told. */
export interface Refusal {
  at: number;
  ip: string;
  listener: string;
  user: string | null;
  phase: string;
  sender: string | null;
  recipient: string | null;
  reply: string;
}

export interface TraceStore {
  /** Records an event the message rows do not already say (throttle, hold, bounce, duplicate). */
  recordEvent(messageId: string, at: number, event: string, detail: string): Promise<void>;
  recordRefusal(refusal: Refusal): Promise<void>;
  /** Recipient rows, newest first. */
  trace(query: TraceQuery): Promise<TraceRow[]>;
  /** Every event of one message, in time order; null when it is unknown (or purged). */
  traceMessage(id: string): Promise<TraceEvent[] | null>;
  refusals(query: { ip?: string; since?: number; limit?: number; offset?: number }): Promise<Refusal[]>;
}
