/**
 * Counts open connections in total and per client address. Checked in onConnect, before the
 * client may send anything, so a flood from one device cannot starve the others.
 */
export class ConnectionLimiter {
  readonly #perIp = new Map<string, number>();
  readonly #sessions = new Map<string, string>();

  readonly #maxTotal: number;
  readonly #maxPerIp: number;

  constructor(maxTotal: number, maxPerIp: number) {
    this.#maxTotal = maxTotal;
    this.#maxPerIp = maxPerIp;
  }

  /** Registers a connection; returns which limit refuses it, or null when it may proceed. */
  open(sessionId: string, ip: string): 'total' | 'per-ip' | null {
    if (this.#sessions.size >= this.#maxTotal) return 'total';
    const current = this.#perIp.get(ip) ?? 0;
    if (current >= this.#maxPerIp) return 'per-ip';
    this.#perIp.set(ip, current + 1);
    this.#sessions.set(sessionId, ip);
    return null;
  }

  /** Forgets a connection; unknown ids (refused ones) are ignored. */
  close(sessionId: string): void {
    const ip = this.#sessions.get(sessionId);
    if (ip === undefined) return;
    this.#sessions.delete(sessionId);
    const left = (this.#perIp.get(ip) ?? 1) - 1;
    if (left <= 0) this.#perIp.delete(ip);
    else this.#perIp.set(ip, left);
  }

  get size(): number {
    return this.#sessions.size;
  }
}
