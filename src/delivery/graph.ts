import { request } from 'node:https';

import { SCOPES, type TokenProvider } from '../oauth/token-provider.ts';
import { fitsOneRequest, prepareGraphMime, sendMailPath } from './graph-request.ts';
import { decideSender, type SenderSettings } from './sender-identity.ts';
import type { OutboundMessage, SendResult, Transport } from './transport.ts';

export interface GraphSettings {
  /** https://graph.microsoft.com, a national cloud's, or the sandbox's. */
  baseUrl: string;
  mailbox: string;
  caPem?: string;
  sender: SenderSettings;
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
 * Graph sendMail with the message as base64 MIME (facts §5): recipients from the envelope (see
 * graph-request.ts for the Bcc rule), 202 means accepted. Messages too big for one 4 MB request
 * fail with `ErrorMessageTooLargeForGraph` so a route can fall over to its next method.
 */
export class GraphTransport implements Transport {
  readonly kind = 'm365-graph';
  readonly #settings: GraphSettings;
  readonly #tokens: TokenProvider;

  constructor(settings: GraphSettings, tokens: TokenProvider) {
    this.#settings = settings;
    this.#tokens = tokens;
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const sender = decideSender(this.#settings.sender, message.mailFrom, message.body);
    const mime = prepareGraphMime(
      sender.body,
      message.recipients.map((r) => r.address),
    );
    if (!fitsOneRequest(mime))
      throw new GraphError(
        413,
        'ErrorMessageTooLargeForGraph',
        `${mime.length} bytes of MIME do not fit one 4 MB Graph request`,
        null,
        null,
      );
    const url = `${this.#settings.baseUrl.replace(/\/$/, '')}${sendMailPath(sender.mailbox)}`;
    let response = await this.#post(url, mime, false);
    if (response.status === 401) response = await this.#post(url, mime, true); // token revoked or rotated: renew once
    if (response.status !== 202) {
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
    const reply = `202 Accepted by Graph (request-id ${response.requestId ?? 'none'})`;
    return {
      upstream: new URL(this.#settings.baseUrl).host,
      recipients: message.recipients.map((r) => ({ recipientId: r.id, accepted: true, reply, code: 202 })),
    };
  }

  async #post(url: string, mime: Buffer, renew: boolean) {
    const token = await this.#tokens.get(SCOPES.graph, renew);
    const body = mime.toString('base64');
    return new Promise<{
      status: number;
      headers: Record<string, string | string[] | undefined>;
      body: string;
      requestId: string | null;
    }>((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          ca: this.#settings.caPem,
          headers: {
            authorization: `Bearer ${token.token}`,
            'content-type': 'text/plain',
            'content-length': Buffer.byteLength(body),
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
      req.end(body);
    });
  }

  async close(): Promise<void> {}
}
