/**
 * The one place that decides what a delivery failure means. The worker only carries out the
 * verdict. Order: an SMTP reply if there is one (by its code and enhanced code), then a small
 * table of error codes; anything unknown is retried, because a few extra attempts cost less
 * than a lost message. New upstream quirks become new rows, each with a test.
 */

export type Action = 'retry' | 'fail';

export interface Verdict {
  action: Action;
  /** Bounded label for metrics and the attempt history. */
  category: string;
  /** One line for the history and the admin: the upstream's reply, or what went wrong. */
  reply: string;
}

export interface FailureInput {
  /** SMTP reply code from the upstream, if the failure came with one. */
  responseCode?: number | null;
  /** Full reply text from the upstream ("550 5.1.1 ..."), if any. */
  response?: string | null;
  /** Error code (nodemailer's ECONNECTION, Node's ECONNREFUSED, ...). */
  code?: string | null;
  message?: string;
  /** Graph: HTTP status and error code (error.code in the JSON body). */
  httpStatus?: number | null;
  graphCode?: string | null;
}

interface Rule {
  name: string;
  test: (f: FailureInput) => boolean;
  action: Action;
  category: string;
}

const enhanced = (f: FailureInput) => /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})/.exec(f.response ?? '')?.[1] ?? '';

/** The rule table, first match wins. Exported so each row has its own test. */
export const RULES: readonly Rule[] = [
  // STARTTLS refused or failed: nodemailer attaches the server's reply (often 5xx), but the
  // message is not at fault; the upstream or our TLS settings are.
  { name: 'starttls-failed', test: (f) => f.code === 'ETLS', action: 'retry', category: 'tls' },
  // Token failures (src/oauth): a wrong secret or missing consent is the relay's configuration,
  // never the message's; mail stays queued until an admin fixes it.
  {
    name: 'token-configuration',
    test: (f) => f.code === 'ETOKENCONFIG',
    action: 'retry',
    category: 'credential',
  },
  { name: 'token-temporary', test: (f) => f.code === 'ETOKENTEMP', action: 'retry', category: 'token' },
  // No method of the route fits the message (too big or too many recipients for every one).
  { name: 'no-method-fits', test: (f) => f.code === 'ENOMETHOD', action: 'fail', category: 'too-large' },
  // Every Graph slot of the app stayed taken by other nodes (scheduler/slots.ts): later.
  { name: 'slots-busy', test: (f) => f.code === 'ESLOTWAIT', action: 'retry', category: 'concurrency' },
  // 432 4.3.2: more connections for the mailbox than Exchange allows (facts §2.3): fewer, later.
  {
    name: 'm365-concurrency',
    test: (f) => f.responseCode === 432 && enhanced(f) === '4.3.2',
    action: 'retry',
    category: 'concurrency',
  },
  // Exchange Online (facts §2). Quotas and throttles clear with time: keep the mail, do not bounce.
  {
    name: 'm365-submission-quota',
    test: (f) => /SubmissionQuotaExceeded/i.test(f.response ?? ''),
    action: 'retry',
    category: 'quota',
  },
  {
    name: 'm365-tenant-limit',
    test: (f) => /^5\.7\.23[23]$/.test(enhanced(f)),
    action: 'retry',
    category: 'tenant-limit',
  },
  {
    name: 'm365-continuous-errors',
    test: (f) => /^5\.2\.25[1-5]$/.test(enhanced(f)) && /throttled/i.test(f.response ?? ''),
    action: 'retry',
    category: 'blocked',
  },
  // Credentials or SMTP AUTH switched off: the relay's configuration, not the message.
  {
    name: 'm365-credential',
    test: (f) =>
      /^5\.7\.(3|139|30|57)$/.test(enhanced(f)) &&
      (f.responseCode === 535 || f.responseCode === 550 || f.responseCode === 530),
    action: 'retry',
    category: 'credential',
  },
  // Graph (facts §5): the HTTP status and error code decide, before the SMTP rules.
  { name: 'graph-throttled', test: (f) => f.httpStatus === 429, action: 'retry', category: 'throttled' },
  {
    name: 'graph-too-large',
    test: (f) => f.graphCode === 'ErrorMessageTooLargeForGraph' || f.httpStatus === 413,
    action: 'retry',
    category: 'too-large-for-method',
  },
  {
    name: 'graph-send-as-denied',
    test: (f) => f.graphCode === 'ErrorSendAsDenied',
    action: 'retry',
    category: 'sender-denied',
  },
  {
    name: 'graph-access',
    test: (f) =>
      f.httpStatus === 401 ||
      ['ErrorAccessDenied', 'MailboxNotEnabledForRESTAPI', 'ErrorInvalidUser'].includes(f.graphCode ?? ''),
    action: 'retry',
    category: 'credential',
  },
  {
    name: 'graph-invalid-recipients',
    test: (f) => f.graphCode === 'ErrorInvalidRecipients',
    action: 'fail',
    category: 'rejected',
  },
  { name: 'graph-5xx', test: (f) => (f.httpStatus ?? 0) >= 500, action: 'retry', category: 'temporary' },
  {
    name: 'graph-4xx',
    test: (f) => (f.httpStatus ?? 0) >= 400 && (f.httpStatus ?? 0) < 500,
    action: 'fail',
    category: 'rejected',
  },
  // The mailbox may not send as this From: a SendAs grant or a sender-identity setting is missing.
  {
    name: 'm365-sender-denied',
    test: (f) => enhanced(f) === '5.7.60' || /SendAsDenied/.test(f.response ?? ''),
    action: 'retry',
    category: 'sender-denied',
  },
  // Some servers send 5xx with a 4.x.x enhanced code for temporary conditions; the enhanced code is more specific.
  {
    name: 'smtp-5xx-with-4xx-enhanced',
    test: (f) => isCode(f, 5) && enhanced(f).startsWith('4.'),
    action: 'retry',
    category: 'temporary',
  },
  {
    name: 'smtp-size',
    test: (f) => isCode(f, 5) && /^5\.(3\.4|2\.3)$/.test(enhanced(f)),
    action: 'fail',
    category: 'too-large',
  },
  {
    name: 'smtp-auth-5xx',
    test: (f) => f.responseCode === 535 || f.responseCode === 530,
    action: 'retry',
    category: 'auth',
  },
  { name: 'smtp-5xx', test: (f) => isCode(f, 5), action: 'fail', category: 'rejected' },
  { name: 'smtp-4xx', test: (f) => isCode(f, 4), action: 'retry', category: 'temporary' },
  {
    name: 'tls',
    test: (f) => f.responseCode == null && /certificate|TLS|SSL|handshake/i.test(f.message ?? ''),
    action: 'retry',
    category: 'tls',
  },
  {
    name: 'network',
    test: (f) =>
      [
        'ECONNECTION',
        'ECONNREFUSED',
        'ECONNRESET',
        'ETIMEDOUT',
        'ESOCKET',
        'EHOSTUNREACH',
        'ENETUNREACH',
        'EPIPE',
      ].includes(f.code ?? ''),
    action: 'retry',
    category: 'network',
  },
  {
    name: 'dns',
    test: (f) => ['EDNS', 'ENOTFOUND', 'EAI_AGAIN'].includes(f.code ?? ''),
    action: 'retry',
    category: 'dns',
  },
  { name: 'auth', test: (f) => f.code === 'EAUTH', action: 'retry', category: 'auth' },
  {
    name: 'timeout',
    test: (f) => f.code === 'ETIMEDOUT' || f.code === 'ETIMEOUT',
    action: 'retry',
    category: 'network',
  },
];

function isCode(f: FailureInput, cls: 4 | 5): boolean {
  return typeof f.responseCode === 'number' && Math.floor(f.responseCode / 100) === cls;
}

export function classifyFailure(f: FailureInput): Verdict {
  const reply = describe(f);
  for (const rule of RULES) if (rule.test(f)) return { action: rule.action, category: rule.category, reply };
  return { action: 'retry', category: 'unknown', reply };
}

/** Verdict for a thrown error (nodemailer and Node errors carry code/responseCode/response). */
export function classifyError(err: unknown): Verdict {
  const e = (err ?? {}) as {
    responseCode?: number;
    response?: string;
    code?: string;
    message?: string;
    status?: number;
    graphCode?: string;
  };
  return classifyFailure({
    responseCode: e.responseCode,
    response: e.response,
    code: e.code,
    message: e.message,
    httpStatus: e.code === 'EGRAPH' ? e.status : undefined,
    graphCode: e.code === 'EGRAPH' ? e.graphCode : undefined,
  });
}

function describe(f: FailureInput): string {
  const text = f.response?.trim() || [f.code, f.message].filter(Boolean).join(': ') || 'unknown error';
  return text.replace(/\s*\r?\n\s*/g, ' ').slice(0, 500);
}
