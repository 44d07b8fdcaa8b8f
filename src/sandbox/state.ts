import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { headerValue } from '../smtp/received.ts';

export type Folder = 'Inbox' | 'SentItems';
export type Endpoint = 'submission' | 'mx' | 'graph';

export interface StoredItem {
  id: string;
  folder: Folder;
  mailbox: string;
  receivedAt: number;
  via: Endpoint;
  from: string | null;
  subject: string | null;
  messageId: string | null;
  envelopeFrom: string;
  envelopeTo: string[];
  raw: Buffer;
}

/** Message trace statuses and events as Exchange shows them (facts §6). */
export type TraceStatus = 'Delivered' | 'Failed' | 'Pending' | 'Expanded' | 'Quarantined' | 'FilteredAsSpam';

export interface TraceRow {
  messageTraceId: string;
  received: number;
  senderAddress: string;
  recipientAddress: string;
  subject: string | null;
  messageId: string | null;
  status: TraceStatus;
  fromIp: string;
  endpoint: Endpoint;
  events: {
    at: number;
    event: 'Receive' | 'Submit' | 'Deliver' | 'Send external' | 'Fail';
    detail: string;
  }[];
}

export interface AcceptInput {
  via: Endpoint;
  fromIp: string;
  envelopeFrom: string;
  recipients: { address: string; local: boolean }[];
  raw: Buffer;
  /** Mailbox whose Sent Items gets a copy (submission and Graph). */
  sender?: string;
  now: number;
  /** Accepted but carried over (30 messages a minute): traced Pending until release(). */
  pending?: boolean;
}

/**
 * What the sandbox tenant holds: each mailbox's Inbox and Sent Items, and a message trace.
 * In memory for tests; also written as .eml files under `dir` when given, so the demo's mail
 * can be looked at with ls and any mail client.
 */
export class SandboxState {
  readonly #items: StoredItem[] = [];
  readonly #trace: TraceRow[] = [];
  readonly #held = new Map<string, AcceptInput>();
  readonly #dir: string | undefined;
  #carriedOver = 0;

  constructor(dir?: string) {
    this.#dir = dir;
  }

  /** Files one message: a copy per local recipient's Inbox, one in the sender's Sent Items, trace rows per recipient. */
  accept(input: AcceptInput): string {
    const traceId = randomUUID();
    const subject = headerValue(input.raw, 'subject');
    const messageId = headerValue(input.raw, 'message-id');
    const row = (recipient: string, status: TraceStatus, events: TraceRow['events']): TraceRow => ({
      messageTraceId: traceId,
      received: input.now,
      senderAddress: input.envelopeFrom,
      recipientAddress: recipient,
      subject,
      messageId,
      status,
      fromIp: input.fromIp,
      endpoint: input.via,
      events,
    });
    if (input.pending) {
      this.#carriedOver++;
      const detail = 'submission throttled: carried over to the following minute';
      for (const r of input.recipients)
        this.#trace.push(row(r.address, 'Pending', [{ at: input.now, event: 'Submit', detail }]));
      this.#held.set(traceId, { ...input, pending: false });
      return traceId;
    }
    const base = {
      receivedAt: input.now,
      via: input.via,
      from: headerValue(input.raw, 'from'),
      subject,
      messageId,
      envelopeFrom: input.envelopeFrom,
    };
    const envelopeTo = input.recipients.map((r) => r.address);
    for (const r of input.recipients) {
      if (r.local)
        this.#store({
          ...base,
          id: randomUUID(),
          folder: 'Inbox',
          mailbox: r.address.toLowerCase(),
          envelopeTo,
          raw: input.raw,
        });
      this.#trace.push(
        row(r.address, 'Delivered', [
          {
            at: input.now,
            event: input.via === 'mx' ? 'Receive' : 'Submit',
            detail: `via ${input.via} from ${input.fromIp}`,
          },
          {
            at: input.now,
            event: r.local ? 'Deliver' : 'Send external',
            detail: r.local ? 'delivered to mailbox' : 'sent to the outside world (simulated)',
          },
        ]),
      );
    }
    if (input.sender)
      this.#store({
        ...base,
        id: randomUUID(),
        folder: 'SentItems',
        mailbox: input.sender.toLowerCase(),
        envelopeTo,
        raw: input.raw,
      });
    return traceId;
  }

  #store(item: StoredItem): void {
    this.#items.push(item);
    if (this.#dir) {
      const folder = join(this.#dir, item.mailbox, item.folder);
      mkdirSync(folder, { recursive: true });
      writeFileSync(
        join(
          folder,
          `${new Date(item.receivedAt).toISOString().replace(/[:.]/g, '-')}-${item.id.slice(0, 8)}.eml`,
        ),
        item.raw,
      );
    }
  }

  /** How many messages were carried over (over 30 a minute) since the start or the last reset. */
  get carriedOver(): number {
    return this.#carriedOver;
  }

  /** Delivers a carried-over message now; its Pending trace rows are replaced by the delivered ones. */
  release(traceId: string, now: number): void {
    const held = this.#held.get(traceId);
    if (!held) return;
    this.#held.delete(traceId);
    for (let i = this.#trace.length - 1; i >= 0; i--)
      if (this.#trace[i]!.messageTraceId === traceId) this.#trace.splice(i, 1);
    this.accept({ ...held, now });
  }

  folder(mailbox: string, folder: Folder): StoredItem[] {
    const m = mailbox.toLowerCase();
    return this.#items
      .filter((i) => i.mailbox === m && i.folder === folder)
      .sort((a, b) => b.receivedAt - a.receivedAt);
  }

  item(id: string): StoredItem | undefined {
    return this.#items.find((i) => i.id === id);
  }

  /** Trace rows, newest first; sender/recipient accept * wildcards. */
  trace(query: { sender?: string; recipient?: string; status?: TraceStatus } = {}): TraceRow[] {
    const like = (pattern: string | undefined, value: string) =>
      !pattern ||
      new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i').test(value);
    return this.#trace
      .filter(
        (t) =>
          like(query.sender, t.senderAddress) &&
          like(query.recipient, t.recipientAddress) &&
          (!query.status || t.status === query.status),
      )
      .sort((a, b) => b.received - a.received);
  }

  reset(): void {
    this.#items.length = 0;
    this.#trace.length = 0;
    this.#held.clear();
    this.#carriedOver = 0;
  }
}
