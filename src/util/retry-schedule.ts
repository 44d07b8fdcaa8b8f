import { parseDuration } from './units.ts';

/**
 * The retry schedule is a list a person can read, in Haraka's notation: "1m,5m,15m,30m,1h*4,2h"
 * means wait 1 minute after the first failure, then 5, 15 and 30 minutes, then 1 hour four
 * times, then every 2 hours (the last step repeats) until the message's maximum age.
 */
export interface RetrySchedule {
  /** Delays in ms; the last one repeats for every later attempt. */
  readonly steps: readonly number[];
}

/** Thrown for a bad schedule; names the position (1-based) and the text of the bad element. */
export class RetryScheduleError extends Error {
  constructor(
    readonly position: number,
    readonly element: string,
    reason: string,
  ) {
    super(`retry schedule element ${position} ("${element}"): ${reason}`);
    this.name = 'RetryScheduleError';
  }
}

const MAX_REPEAT = 1000;

export function parseRetrySchedule(text: string): RetrySchedule {
  const elements = text.split(',').map((e) => e.trim());
  const steps: number[] = [];
  elements.forEach((element, index) => {
    const position = index + 1;
    if (element === '') throw new RetryScheduleError(position, element, 'empty element');
    const [durationText, repeatText, extra] = element.split('*').map((p) => p.trim());
    if (extra !== undefined) throw new RetryScheduleError(position, element, 'more than one "*"');
    let delay: number;
    try {
      delay = parseDuration(durationText!);
    } catch (err) {
      throw new RetryScheduleError(position, element, (err as Error).message);
    }
    if (delay <= 0) throw new RetryScheduleError(position, element, 'a delay must be greater than zero');
    let repeat = 1;
    if (repeatText !== undefined) {
      if (!/^\d+$/.test(repeatText))
        throw new RetryScheduleError(position, element, 'repeat count must be a whole number');
      repeat = Number(repeatText);
      if (repeat < 1 || repeat > MAX_REPEAT)
        throw new RetryScheduleError(position, element, `repeat count must be between 1 and ${MAX_REPEAT}`);
    }
    for (let i = 0; i < repeat; i++) steps.push(delay);
  });
  return { steps };
}

/** Delay before the next attempt, given how many attempts have failed so far (1 = the first). */
export function retryDelay(schedule: RetrySchedule, failedAttempts: number): number {
  const index = Math.min(Math.max(failedAttempts, 1), schedule.steps.length) - 1;
  return schedule.steps[index]!;
}
