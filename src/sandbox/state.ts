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

/**
 * What the sandbox tenant holds: each mailbox's Inbox and Sent Items, and a message trace.
 * In memory for tests; also written as .eml files under `dir` when given, so the demo's mail
 * can be looked at with ls and any mail client.
 */
export class SandboxState {
  readonly #items: StoredItem[] = [];
  readonly #trace: TraceRow[] = [];
  readonly #dir: string | undefined;

  constructor(dir?: string) {
    this.#dir = dir;
  }

  /** Files one message: a copy per local recipient's Inbox, one in the sender's Sent Items, trace rows per recipient. */
  accept(input: {
    via: Endpoint;
    fromIp: string;
    envelopeFrom: string;
    recipients: { address: string; local: boolean }[];
    raw: Buffer;
    /** Mailbox whose Sent Items gets a copy (submission and Graph). */
    sender?: string;
    now: number;
  }): string {
    const messageId = headerValue(input.raw, 'message-id');
    const subject = headerValue(input.raw, 'subject');
    const from = headerValue(input.raw, 'from');
    const traceId = randomUUID();
    const base = {
      receivedAt: input.now,
      via: input.via,
      from,
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
      this.#trace.push({
        messageTraceId: traceId,
        received: input.now,
        senderAddress: input.envelopeFrom,
        recipientAddress: r.address,
        subject,
        messageId,
        status: 'Delivered',
        fromIp: input.fromIp,
        endpoint: input.via,
        events: [
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
        ],
      });
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
  }
}
