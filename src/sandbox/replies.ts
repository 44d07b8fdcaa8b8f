import { SmtpError } from '../smtp/replies.ts';

/**
 * The Exchange Online replies the sandbox sends, word for word from
 * ../shared/docs/m365-facts.md (section in each comment). The bracketed trailer imitates the
 * front-end host name Exchange appends.
 */
const r = (code: number, enhanced: string, text: string) => new SmtpError({ code, enhanced, text });

export function trailer(host: string): string {
  return `[${host}]`;
}

export const m365 = {
  // §2.4
  relayDenied: (host: string) => r(550, '5.7.64', `TenantAttribution; Relay Access Denied ${trailer(host)}`),
  // §3.6
  directSendRejected: () =>
    r(
      550,
      '5.7.68',
      'TenantInboundAttribution; Direct Send not allowed for this organization from unauthorized sources',
    ),
  // §2.4
  partnerRestricted: (host: string) =>
    r(
      550,
      '5.7.51',
      `TenantInboundAttribution; There is a partner connector configured that matched the message's recipient domain. The connector had either the RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set ${trailer(host)}`,
    ),
  // §2.3
  tenantExternalLimit: () =>
    r(
      550,
      '5.7.233',
      "- Your message can't be sent because your tenant exceeded its daily limit for sending email to external recipients (tenant external recipient rate limit)",
    ),
  // §3.4 / §2.5 (standard Exchange text; not captured from EXO)
  messageTooLarge: () => r(552, '5.3.4', 'Message size exceeds fixed maximum message size'),
  // §2.1
  proxyError: (n: number) => r(451, '4.7.0', `Temporary server error. Please try again later. PRX${n}`),
  // §2.1
  unrecognizedAuth: (host: string) => r(504, '5.7.4', `Unrecognized authentication type ${trailer(host)}`),
  notAuthenticated: (host: string) =>
    r(530, '5.7.57', `Client not authenticated to send mail. ${trailer(host)}`),
  authFailed: (host: string) => r(535, '5.7.3', `Authentication unsuccessful ${trailer(host)}`),
  smtpAuthDisabledTenant: () =>
    r(
      535,
      '5.7.139',
      'Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.',
    ),
  smtpAuthDisabledMailbox: () =>
    r(
      535,
      '5.7.139',
      'Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.',
    ),
  basicAuthDisabled: (host: string) =>
    r(535, '5.7.139', `Authentication unsuccessful, basic authentication is disabled. ${trailer(host)}`),
  badCredentials: (host: string) =>
    r(535, '5.7.139', `Authentication unsuccessful, the user credentials were incorrect. ${trailer(host)}`),
  basicNotSupported: () => r(550, '5.7.30', 'Basic authentication is not supported for Client Submission.'),
  legacyTls: () =>
    r(
      421,
      '4.7.66',
      'TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2. Visit https://aka.ms/smtp_auth_tls',
    ),
  // §2.2
  sendAsDeniedAtMail: () => r(550, '5.7.60', 'SMTP; Client does not have permissions to send as this sender'),
  sendAsDeniedAtData: (login: string, from: string) =>
    r(
      554,
      '5.2.252',
      `SendAsDenied; ${login} not allowed to send as ${from}; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message.`,
    ),
  continuousErrors: (kind: '251' | '252' | '253' | '254' | '255') => {
    const what = {
      '251': 'mailbox full',
      '252': 'send as denied',
      '253': 'invalid license',
      '254': 'too many recipients',
      '255': 'invalid recipients',
    }[kind];
    return r(550, `5.2.${kind}`, `Sender throttled due to continuous ${what} errors.`);
  },
  // §2.3
  concurrentConnections: () => r(432, '4.3.2', 'Concurrent connections limit exceeded.'),
  submissionQuota: () => r(554, '5.2.0', 'STOREDRV.Submission.Exception:SubmissionQuotaExceededException'),
  // §2.5 (UNCONFIRMED which reply the SMTP session gives; the NDR text is used)
  tooManyRecipients: () => r(550, '5.5.3', 'RESOLVER.ADR.RecipLimit; too many recipients'),
  senderTooLarge: () =>
    r(550, '5.2.3', 'RESOLVER.RST.SendSizeLimit.Sender; message too large for this sender'),
} as const;
