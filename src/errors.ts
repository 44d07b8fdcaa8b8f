/**
 * Internal (non-SMTP) errors. Every code has a description here and a row in docs/errors.md;
 * a test checks the two in both directions. SMTP replies to devices live in smtp/replies.ts.
 */
export const ERROR_CODES = {
  ERELAY_CONFIG_INVALID: 'The configuration failed validation; every problem is listed with its path.',
  ERELAY_CONFIG_READ: 'The configuration file (or a *_FILE secret) could not be read or parsed as YAML.',
  ERELAY_STORE_UNAVAILABLE: 'The queue store could not be opened or written; new mail gets 451 4.3.0.',
  ERELAY_STORE_MIGRATION: 'A queue store migration failed or the database is newer than this version.',
  ERELAY_MESSAGE_NOT_FOUND: 'No message with that queue id.',
  ERELAY_LISTEN_FAILED: 'A listener could not bind its address and port.',
  ERELAY_TLS_FILES: 'A certificate or key file named in the configuration could not be read.',
  ERELAY_TRANSPORT_CONFIG: 'A route names a transport whose settings are incomplete or contradictory.',
  ERELAY_ROUTE_UNKNOWN: 'A message or rule names a route that the configuration does not define.',
  ERELAY_SHUTDOWN: 'The relay is shutting down and does not take new work.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class RelayError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERROR_CODES[code], options);
    this.name = 'RelayError';
    this.code = code;
  }
}

export function isRelayError(err: unknown, code?: ErrorCode): err is RelayError {
  return err instanceof RelayError && (code === undefined || err.code === code);
}
