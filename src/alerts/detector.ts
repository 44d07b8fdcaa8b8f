/**
 * Outbound-volume anomaly detection, pure over an injected clock. Per subject (a device, a
 * sending mailbox) it keeps hourly counts of messages and recipients, and an exponentially
 * weighted moving average per hour of the day, so a scanner that is busy at 9:00 and silent at
 * night has a baseline for each. Three signals:
 *
 * - volume: this hour's messages (or recipients) far above the baseline for this hour;
 * - new-domain: a device starts sending to a recipient domain it never used, once it has a history;
 * - refusals: many refusals for one client address within five minutes (a brute force, or a
 *   device set up wrong).
 *
 * Each alert is raised once per subject and kind within `cooldownMs`.
 */
const HOUR_MS = 3_600_000;
const REFUSAL_WINDOW_MS = 5 * 60_000;

export interface DetectorSettings {
  /** Alert when the hour's volume exceeds this many times the baseline for that hour. */
  volumeFactor: number;
  /** ...and at least this many messages (small numbers are never anomalies). */
  minMessagesPerHour: number;
  /** Hours a subject must have been seen before volume and new-domain alerts apply. */
  learningHours: number;
  /** Refusals from one address within five minutes that raise an alert. */
  refusalsPerWindow: number;
  cooldownMs: number;
  /** EWMA weight of the newest hour. */
  alpha?: number;
}

export interface Alert {
  kind: 'volume' | 'new-domain' | 'refusals';
  subject: string;
  at: number;
  summary: string;
  details: Record<string, number | string>;
}

interface Subject {
  firstSeen: number;
  hour: number;
  messages: number;
  recipients: number;
  /** EWMA of messages and recipients per hour of day (24 slots, UTC). */
  baselineMessages: number[];
  baselineRecipients: number[];
  seenSlots: boolean[];
  domains: Set<string>;
}

export class AnomalyDetector {
  readonly #s: DetectorSettings;
  readonly #now: () => number;
  readonly #subjects = new Map<string, Subject>();
  readonly #refusals = new Map<string, number[]>();
  readonly #lastAlert = new Map<string, number>();

  constructor(settings: DetectorSettings, now: () => number = Date.now) {
    this.#s = settings;
    this.#now = now;
  }

  /**
   * A message from or through `subject` to `recipients` recipients; with `domains` (devices),
   * their domains are checked for ones never used before. Returns any alerts it raises.
   */
  message(subject: string, recipients: number, domains?: string[]): Alert[] {
    const now = this.#now();
    const s = this.#roll(subject, now);
    const alerts: Alert[] = [];
    s.messages += 1;
    s.recipients += recipients;
    const learned = now - s.firstSeen >= this.#s.learningHours * HOUR_MS;
    if (domains) {
      for (const d of new Set(domains)) {
        if (!s.domains.has(d) && learned && s.domains.size > 0)
          this.#raise(
            alerts,
            {
              kind: 'new-domain',
              subject,
              at: now,
              summary: `${subject} sent to ${d} for the first time`,
              details: { domain: d, knownDomains: s.domains.size },
            },
            `${subject}|${d}`,
          );
        s.domains.add(d);
      }
    }
    const slot = new Date(now).getUTCHours();
    if (learned && s.seenSlots[slot]) {
      const base = s.baselineMessages[slot]!;
      const limit = Math.max(this.#s.minMessagesPerHour, this.#s.volumeFactor * base);
      if (s.messages > limit)
        this.#raise(alerts, {
          kind: 'volume',
          subject,
          at: now,
          summary: `${subject} sent ${s.messages} messages this hour; usual for this hour is ${base.toFixed(1)}`,
          details: {
            messages: s.messages,
            recipients: s.recipients,
            baseline: Number(base.toFixed(2)),
            hourUtc: slot,
          },
        });
    }
    return alerts;
  }

  /** A refusal for a client address. */
  refusal(ip: string, reply: string): Alert[] {
    const now = this.#now();
    const list = (this.#refusals.get(ip) ?? []).filter((t) => t > now - REFUSAL_WINDOW_MS);
    list.push(now);
    this.#refusals.set(ip, list);
    const alerts: Alert[] = [];
    if (list.length >= this.#s.refusalsPerWindow)
      this.#raise(alerts, {
        kind: 'refusals',
        subject: ip,
        at: now,
        summary: `${list.length} refusals for ${ip} in five minutes; last: ${reply}`,
        details: { refusals: list.length, lastReply: reply },
      });
    if (this.#refusals.size > 10_000) this.#refusals.delete(this.#refusals.keys().next().value!);
    return alerts;
  }

  #raise(out: Alert[], alert: Alert, key = `${alert.subject}|${alert.kind}`): void {
    const last = this.#lastAlert.get(key);
    if (last !== undefined && alert.at - last < this.#s.cooldownMs) return;
    this.#lastAlert.set(key, alert.at);
    out.push(alert);
  }

  /** Closes finished hours into the baseline (hours with no traffic count as zero). */
  #roll(subject: string, now: number): Subject {
    const hour = Math.floor(now / HOUR_MS);
    let s = this.#subjects.get(subject);
    if (!s) {
      s = {
        firstSeen: now,
        hour,
        messages: 0,
        recipients: 0,
        baselineMessages: Array(24).fill(0),
        baselineRecipients: Array(24).fill(0),
        seenSlots: Array(24).fill(false),
        domains: new Set(),
      };
      this.#subjects.set(subject, s);
      return s;
    }
    const alpha = this.#s.alpha ?? 0.3;
    // At most a week of empty hours is folded in; beyond that the baseline is all but zero anyway.
    for (let h = s.hour; h < hour && h < s.hour + 24 * 7; h++) {
      const slot = ((h % 24) + 24) % 24;
      const m = h === s.hour ? s.messages : 0;
      const r = h === s.hour ? s.recipients : 0;
      s.baselineMessages[slot] = s.seenSlots[slot] ? alpha * m + (1 - alpha) * s.baselineMessages[slot]! : m;
      s.baselineRecipients[slot] = s.seenSlots[slot]
        ? alpha * r + (1 - alpha) * s.baselineRecipients[slot]!
        : r;
      s.seenSlots[slot] = true;
    }
    if (hour !== s.hour) {
      s.hour = hour;
      s.messages = 0;
      s.recipients = 0;
    }
    return s;
  }
}
