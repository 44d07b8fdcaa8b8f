import { request } from 'node:https';

import { SCOPES, type TokenProvider } from '../oauth/token-provider.ts';
import type { ConcurrencySlots } from '../scheduler/slots.ts';
import { planLargeMessage, UPLOAD_CHUNK_BYTES } from './graph-large.ts';
import { fitsOneRequest, prepareGraphMime, sendMailPath } from './graph-request.ts';
import {
  candidateMailboxes,
  decideSender,
  type SenderDecision,
  type SenderSettings,
} from './sender-identity.ts';
import type { OutboundMessage, SendResult, Transport } from './transport.ts';

export interface GraphSettings {
  /** https://graph.microsoft.com, a national cloud's, or the sandbox's. */
  baseUrl: string;
  /** The app registration (tenant entry) whose concurrency the requests count against. */
  app: string;
  mailbox: string;
  caPem?: string;
  sender: SenderSettings;
  /** false: Graph keeps no copy in Sent Items; the message then goes as JSON (MIME sendMail takes no options). */
  saveToSentItems: boolean;
}

interface GraphResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  requestId: string | null;
}

interface GraphCall {
  body: string | Buffer;
  /** Omitted for bodiless calls such as /send. */
  contentType?: string;
  /** Upload URLs are pre-authenticated: no bearer token. */
  noAuth?: boolean;
  headers?: Record<string, string>;
}

/** A Graph refusal, carrying what the classifier needs: HTTP status, Graph error code, Retry-After. */
export class GraphError extends Error {
  readonly code = 'EGRAPH';
  readonly status: number;
  readonly graphCode: string;
  readonly retryAfterMs: number | null;
  readonly requestId: string | null;

  constructor(
    status: number,
    graphCode: string,
    message: string,
    retryAfterMs: number | null,
    requestId: string | null,
  ) {
    super(`${status} ${graphCode}: ${message}`);
    this.name = 'GraphError';
    this.status = status;
    this.graphCode = graphCode;
    this.retryAfterMs = retryAfterMs;
    this.requestId = requestId;
  }
}

/**
 * Graph sendMail (facts §5): the message as base64 MIME, recipients from the envelope (see
 * graph-request.ts), 202 means accepted. MIME too big for one 4 MB request goes through a draft,
 * one upload session per attachment (ranges under 4 MB) and send (needs Mail.ReadWrite).
 */
/** Graph allows four concurrent requests per app (facts §5); a fifth gets 429. */
export const GRAPH_CONCURRENCY_PER_APP = 4;

export class GraphTransport implements Transport {
  readonly kind = 'm365-graph';
  readonly #settings: GraphSettings;
  readonly #tokens: TokenProvider;
  readonly #slots: ConcurrencySlots;

  /** `slots`: shared by every transport of the process, and by every node when the queue is. */
  constructor(settings: GraphSettings, tokens: TokenProvider, slots: ConcurrencySlots) {
    this.#settings = settings;
    this.#tokens = tokens;
    this.#slots = slots;
  }

  senders(message: Pick<OutboundMessage, 'mailFrom' | 'mailbox'>): string[] {
    return candidateMailboxes(this.#settings.sender, message.mailFrom, message.mailbox);
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const sender = decideSender(this.#settings.sender, message.mailFrom, message.body, message.mailbox);
    // One slot for the whole send: a large message's draft, uploads and send run one after another.
    return this.#slots.run(`graph:${this.#settings.app}`, () => this.#send(message, sender));
  }

  async #send(message: OutboundMessage, sender: SenderDecision): Promise<SendResult> {
    const envelope = message.recipients.map((r) => r.address);
    const mime = prepareGraphMime(sender.body, envelope);
    const user = `${this.#settings.baseUrl.replace(/\/$/, '')}/v1.0/users/${encodeURIComponent(sender.mailbox)}`;
    if (!fitsOneRequest(mime)) return this.#sendLarge(user, mime, envelope, message);
    if (!this.#settings.saveToSentItems) {
      const plan = await planLargeMessage(mime, envelope);
      const attachments = plan.attachments.map((a) => ({
        '@odata.type': '#microsoft.graph.fileAttachment',
        name: a.name,
        contentType: a.contentType,
        contentBytes: a.content.toString('base64'),
      }));
      const response = await this.#call('POST', `${user}/sendMail`, {
        body: JSON.stringify({ message: { ...plan.draft, attachments }, saveToSentItems: false }),
        contentType: 'application/json',
      });
      return this.#accepted(response, message);
    }
    const response = await this.#call(
      'POST',
      `${this.#settings.baseUrl.replace(/\/$/, '')}${sendMailPath(sender.mailbox)}`,
      {
        body: mime.toString('base64'),
        contentType: 'text/plain',
      },
    );
    return this.#accepted(response, message);
  }

  async #sendLarge(
    user: string,
    mime: Buffer,
    envelope: string[],
    message: OutboundMessage,
  ): Promise<SendResult> {
    const plan = await planLargeMessage(mime, envelope);
    const created = await this.#call('POST', `${user}/messages`, {
      body: JSON.stringify(plan.draft),
      contentType: 'application/json',
    });
    if (created.status !== 201) fail(created);
    const id = (JSON.parse(created.body) as { id: string }).id;
    for (const a of plan.attachments) {
      const session = await this.#call('POST', `${user}/messages/${id}/attachments/createUploadSession`, {
        body: JSON.stringify({
          AttachmentItem: {
            attachmentType: 'file',
            name: a.name,
            size: a.content.length,
            contentType: a.contentType,
          },
        }),
        contentType: 'application/json',
      });
      if (session.status !== 201) fail(session);
      const uploadUrl = (JSON.parse(session.body) as { uploadUrl: string }).uploadUrl;
      for (let start = 0; start < a.content.length; start += UPLOAD_CHUNK_BYTES) {
        const part = a.content.subarray(start, start + UPLOAD_CHUNK_BYTES);
        const put = await this.#call('PUT', uploadUrl, {
          body: part,
          contentType: 'application/octet-stream',
          noAuth: true,
          headers: { 'content-range': `bytes ${start}-${start + part.length - 1}/${a.content.length}` },
        });
        if (put.status !== 200 && put.status !== 201) fail(put);
      }
    }
    return this.#accepted(await this.#call('POST', `${user}/messages/${id}/send`, { body: '' }), message);
  }

  #accepted(response: GraphResponse, message: OutboundMessage): SendResult {
    if (response.status !== 202) fail(response);
    const reply = `202 Accepted by Graph (request-id ${response.requestId ?? 'none'})`;
    return {
      upstream: new URL(this.#settings.baseUrl).host,
      recipients: message.recipients.map((r) => ({ recipientId: r.id, accepted: true, reply, code: 202 })),
    };
  }

  /** One Graph call; a 401 is retried once with a renewed token (revoked or rotated). */
  async #call(method: string, url: string, call: GraphCall): Promise<GraphResponse> {
    const response = await this.#request(method, url, call, false);
    return response.status === 401 && !call.noAuth ? this.#request(method, url, call, true) : response;
  }

  async #request(method: string, url: string, call: GraphCall, renew: boolean): Promise<GraphResponse> {
    const auth = call.noAuth
      ? {}
      : { authorization: `Bearer ${(await this.#tokens.get(SCOPES.graph, renew)).token}` };
    return new Promise<GraphResponse>((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ca: this.#settings.caPem,
          headers: {
            ...auth,
            ...call.headers,
            ...(call.contentType ? { 'content-type': call.contentType } : {}),
            'content-length': Buffer.byteLength(call.body),
          },
          timeout: 120_000,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: text,
              requestId: (res.headers['request-id'] as string | undefined) ?? null,
            }),
          );
        },
      );
      req.on('timeout', () =>
        req.destroy(Object.assign(new Error('Graph request timed out'), { code: 'ETIMEDOUT' })),
      );
      req.on('error', reject);
      req.end(call.body);
    });
  }

  async close(): Promise<void> {}
}

/** Turns a non-success Graph response into a GraphError for the classifier. */
function fail(response: GraphResponse): never {
  let graphCode = 'Unknown';
  let text = response.body.slice(0, 300);
  try {
    const parsed = JSON.parse(response.body) as { error?: { code?: string; message?: string } };
    graphCode = parsed.error?.code ?? graphCode;
    text = parsed.error?.message ?? text;
  } catch {
    // not JSON: keep the raw text
  }
  const retryAfter = Number(response.headers['retry-after']);
  throw new GraphError(
    response.status,
    graphCode,
    text,
    Number.isFinite(retryAfter) ? retryAfter * 1000 : null,
    response.requestId,
  );
}
