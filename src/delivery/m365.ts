import { classifyError } from './classify.ts';
import type { OutboundMessage, SendResult, Transport } from './transport.ts';

/**
 * Categories that say "this method cannot carry this message now" rather than "this message
 * cannot be delivered": the route then tries its next method within the same attempt.
 * (SMTP AUTH switched off, a token or permission problem, too big for Graph, an unreachable host.)
 */
export const METHOD_LEVEL_CATEGORIES = new Set([
  'credential',
  'token',
  'too-large-for-method',
  'network',
  'tls',
  'auth',
  'dns',
  'sender-denied',
]);

/**
 * A Microsoft 365 route: its methods in order of preference. The first that takes the message
 * is used; a method-level failure falls over to the next; the last failure is what the worker
 * classifies when every method failed.
 */
export class M365Transport implements Transport {
  readonly kind: string;
  readonly #methods: Transport[];

  constructor(methods: Transport[]) {
    this.#methods = methods;
    this.kind = methods.map((m) => m.kind).join('>');
  }

  /** The methods share the route's sender settings: the first that knows its mailboxes answers. */
  senders(message: Pick<OutboundMessage, 'mailFrom' | 'mailbox'>): string[] {
    for (const m of this.#methods) {
      const s = m.senders?.(message);
      if (s && s.length > 0) return s;
    }
    return [];
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    let lastError: unknown;
    const reasons: string[] = [];
    for (const method of this.#methods) {
      // The first method that fits the message is tried; the others wait as fallbacks.
      const unfit = method.fits?.(message);
      if (unfit) {
        reasons.push(`${method.kind}: ${unfit}`);
        continue;
      }
      try {
        const result = await method.send(message);
        return { ...result, upstream: `${method.kind} ${result.upstream}` };
      } catch (err) {
        lastError = err;
        if (!METHOD_LEVEL_CATEGORIES.has(classifyError(err).category)) throw err;
      }
    }
    if (lastError === undefined)
      throw Object.assign(
        new Error(`no method of this route can carry the message (${reasons.join('; ')})`),
        { code: 'ENOMETHOD' },
      );
    throw lastError;
  }

  async close(): Promise<void> {
    await Promise.all(this.#methods.map((m) => m.close()));
  }
}
