/** How long a route keeps its reduced concurrency after a 432. */
const NARROW_MS = 10 * 60_000;

/**
 * Per-route pauses and concurrency caps, kept by the delivery thread. In memory: after a
 * restart a route simply tries again, and the refusal that paused it pauses it again.
 */
export class RouteGate {
  readonly #paused = new Map<string, number>();
  readonly #narrowed = new Map<string, { cap: number; until: number }>();

  pause(route: string, until: number): void {
    this.#paused.set(route, Math.max(this.#paused.get(route) ?? 0, until));
  }

  pausedUntil(route: string, now: number): number | null {
    const until = this.#paused.get(route);
    if (until === undefined || until <= now) {
      this.#paused.delete(route);
      return null;
    }
    return until;
  }

  narrow(route: string, inFlight: number, now: number): void {
    const current = this.#narrowed.get(route)?.cap ?? inFlight;
    this.#narrowed.set(route, { cap: Math.max(1, Math.min(current, inFlight) - 1), until: now + NARROW_MS });
  }

  concurrency(route: string, configured: number): number {
    const n = this.#narrowed.get(route);
    if (!n) return configured;
    if (n.until <= Date.now()) {
      this.#narrowed.delete(route);
      return configured;
    }
    return Math.min(configured, n.cap);
  }
}
