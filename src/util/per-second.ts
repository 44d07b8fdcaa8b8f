/** At most `max` events a second; the rest are skipped. */
export class PerSecond {
  readonly #max: number;
  #second = 0;
  #used = 0;

  constructor(max: number) {
    this.#max = max;
  }

  take(now: number): boolean {
    const second = Math.floor(now / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#used = 0;
    }
    return this.#used++ < this.#max;
  }
}
