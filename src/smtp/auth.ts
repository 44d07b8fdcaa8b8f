import type {
  SMTPServerAuthentication,
  SMTPServerAuthenticationResponse,
  SMTPServerSession,
} from 'smtp-server';

import { AuthLockout } from '../auth/lockout.ts';
import { decoyHash, verifyPassword } from '../auth/password.ts';
import type { Config } from '../config/schema.ts';
import type { RelayEvents } from '../observability/events.ts';
import type { Logger } from '../observability/logger.ts';
import type { BudgetLedger } from '../scheduler/ledger.ts';
import { normaliseIp } from '../util/address.ts';
import { parseDuration } from '../util/units.ts';
import { replies, type SmtpError } from './replies.ts';

/**
 * SMTP AUTH for devices: PLAIN and LOGIN against the scrypt hashes in `users`. The user name
 * is taken as typed (short names such as "scan01" are fine: many devices cannot type an
 * address, others cap the field's length). Unknown users cost as much as known ones. Failed
 * attempts count per client address and lock it out for a while: on this node always, and
 * with a shared ledger (PostgreSQL) across every node too, so a balancer spreading an
 * attacker's tries over N nodes does not give it N times the tries. Passwords are never logged.
 */
export class DeviceAuth {
  readonly #users: Readonly<Record<string, string>>;
  readonly #lockout: AuthLockout;
  readonly #events: RelayEvents;
  readonly #log: Logger;
  readonly #shared: BudgetLedger | null;
  readonly #settings: { maxFailures: number; windowMs: number; lockoutMs: number };
  readonly #now: () => number;

  constructor(
    config: Readonly<Config>,
    events: RelayEvents,
    log: Logger,
    now: () => number,
    ledger?: BudgetLedger,
  ) {
    this.#users = config.users;
    this.#shared = ledger?.shared ? ledger : null;
    this.#now = now;
    this.#settings = {
      maxFailures: config.auth.maxFailures,
      windowMs: parseDuration(config.auth.failureWindow),
      lockoutMs: parseDuration(config.auth.lockout),
    };
    this.#lockout = new AuthLockout(this.#settings, now);
    this.#events = events;
    this.#log = log;
    // Computed now, so the first unknown user does not take longer than a known one.
    if (this.enabled) void decoyHash();
  }

  get enabled(): boolean {
    return Object.keys(this.#users).length > 0;
  }

  /** A 421 for a locked-out address, checked at connect; null when it may proceed. */
  async lockedOut(ip: string): Promise<SmtpError | null> {
    let until = this.#lockout.lockedUntil(ip);
    // Asked of the database only where logins exist: without users there is nothing to lock.
    if (until === null && this.#shared && this.enabled) {
      const key = lockoutKey(ip);
      const now = this.#now();
      const u = await this.#shared.read(key, now, now);
      if (u.pausedUntil > now) until = u.pausedUntil;
    }
    return until === null ? null : replies.authLockedOut(ip, until);
  }

  /** Counts a failure here and, when shared, with every node; the lockout end if it locked the address. */
  async #fail(ip: string): Promise<number | null> {
    const local = this.#lockout.fail(ip);
    if (!this.#shared) return local;
    const key = lockoutKey(ip);
    const now = this.#now();
    const { windowMs, maxFailures, lockoutMs } = this.#settings;
    const reached = await this.#shared.withKeys([key], async (tx) => {
      const u = await tx.usage(key, now, now - windowMs);
      await tx.spend(key, now, 1);
      return u.recipients + 1 >= maxFailures;
    });
    if (!reached) return local;
    await this.#shared.pause(key, now + lockoutMs, `${maxFailures} failed logins`);
    return Math.max(local ?? 0, now + lockoutMs);
  }

  handle(
    auth: SMTPServerAuthentication,
    session: SMTPServerSession,
    cb: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void,
  ): void {
    const ip = normaliseIp(session.remoteAddress);
    const user = auth.username ?? '';
    const hash = Object.hasOwn(this.#users, user) ? this.#users[user]! : null;
    void this.lockedOut(ip)
      .then(async (locked) => {
        if (locked) return { locked };
        const ok = await verifyPassword(auth.password ?? '', hash ?? (await decoyHash()));
        return { ok, until: ok && hash ? null : await this.#fail(ip) };
      })
      .then(
        (r) => {
          if ('locked' in r) return cb(r.locked);
          const { ok, until } = r;
          if (ok && hash) {
            this.#lockout.succeed(ip);
            this.#log.info({ sid: session.id, user, method: auth.method, remoteAddress: ip }, 'smtp:auth');
            this.#events.emit('smtp:auth', { sid: session.id, user, method: auth.method, ok: true });
            return cb(null, { user });
          }
          const fields = { sid: session.id, user, method: auth.method, remoteAddress: ip };
          if (until === null) this.#log.warn(fields, 'smtp:auth-failed');
          else this.#log.warn({ ...fields, lockedUntil: new Date(until).toISOString() }, 'smtp:auth-lockout');
          this.#events.emit('smtp:auth', { sid: session.id, user, method: auth.method, ok: false });
          cb(until === null ? replies.authInvalid() : replies.authLockedOut(ip, until));
        },
        (err: unknown) => {
          this.#log.error({ err, sid: session.id }, 'smtp:auth-error');
          cb(replies.authUnavailable());
        },
      );
  }
}

/** The ledger key of an address's failed logins (a spend per failure, a pause for the lockout). */
function lockoutKey(ip: string): string {
  return `auth:${ip}`;
}
