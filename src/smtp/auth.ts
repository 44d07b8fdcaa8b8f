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
import { normaliseIp } from '../util/address.ts';
import { parseDuration } from '../util/units.ts';
import { replies, type SmtpError } from './replies.ts';

/**
 * SMTP AUTH for devices: PLAIN and LOGIN against the scrypt hashes in `users`. The user name
 * is taken as typed (short names such as "scan01" are fine: many devices cannot type an
 * address, others cap the field's length). Unknown users cost as much as known ones. Failed
 * attempts count per client address and lock it out for a while. Passwords are never logged.
 */
export class DeviceAuth {
  readonly #users: Readonly<Record<string, string>>;
  readonly #lockout: AuthLockout;
  readonly #events: RelayEvents;
  readonly #log: Logger;

  constructor(config: Readonly<Config>, events: RelayEvents, log: Logger, now: () => number) {
    this.#users = config.users;
    this.#lockout = new AuthLockout(
      {
        maxFailures: config.auth.maxFailures,
        windowMs: parseDuration(config.auth.failureWindow),
        lockoutMs: parseDuration(config.auth.lockout),
      },
      now,
    );
    this.#events = events;
    this.#log = log;
    // Computed now, so the first unknown user does not take longer than a known one.
    if (this.enabled) void decoyHash();
  }

  get enabled(): boolean {
    return Object.keys(this.#users).length > 0;
  }

  /** A 421 for a locked-out address, checked at connect; null when it may proceed. */
  lockedOut(ip: string): SmtpError | null {
    const until = this.#lockout.lockedUntil(ip);
    return until === null ? null : replies.authLockedOut(ip, until);
  }

  handle(
    auth: SMTPServerAuthentication,
    session: SMTPServerSession,
    cb: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void,
  ): void {
    const ip = normaliseIp(session.remoteAddress);
    const locked = this.lockedOut(ip);
    if (locked) return cb(locked);
    const user = auth.username ?? '';
    const hash = Object.hasOwn(this.#users, user) ? this.#users[user]! : null;
    (hash ? Promise.resolve(hash) : decoyHash())
      .then((h) => verifyPassword(auth.password ?? '', h))
      .then(
        (ok) => {
          if (ok && hash) {
            this.#lockout.succeed(ip);
            this.#log.info({ sid: session.id, user, method: auth.method, remoteAddress: ip }, 'smtp:auth');
            this.#events.emit('smtp:auth', { sid: session.id, user, method: auth.method, ok: true });
            return cb(null, { user });
          }
          const until = this.#lockout.fail(ip);
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
