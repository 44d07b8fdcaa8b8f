import assert from 'node:assert/strict';
import { test } from 'node:test';

import { classifyError, classifyFailure, RULES } from '../../../src/delivery/classify.ts';
import { GraphError } from '../../../src/delivery/graph.ts';

/** One case per rule row: the input, and the rule that must decide it. */
const CASES: { rule: string; input: Parameters<typeof classifyFailure>[0] }[] = [
  {
    rule: 'slots-busy',
    input: {
      code: 'ESLOTWAIT',
      message: 'all 4 concurrent graph:contoso requests stayed taken by other nodes',
    },
  },
  {
    rule: 'm365-concurrency',
    input: { responseCode: 432, response: '432 4.3.2 Concurrent connections limit exceeded.' },
  },
  {
    rule: 'no-method-fits',
    input: { code: 'ENOMETHOD', message: 'no method of this route can carry the message' },
  },
  {
    rule: 'starttls-failed',
    input: { code: 'ETLS', responseCode: 500, response: '500 5.5.2 Error: command not recognized' },
  },
  {
    rule: 'token-configuration',
    input: {
      code: 'ETOKENCONFIG',
      message: 'token request failed: AADSTS7000215: Invalid client secret provided.',
    },
  },
  {
    rule: 'token-temporary',
    input: { code: 'ETOKENTEMP', message: 'token request failed: connect ECONNREFUSED' },
  },
  {
    rule: 'm365-submission-quota',
    input: {
      responseCode: 554,
      response: '554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException',
    },
  },
  {
    rule: 'm365-tenant-limit',
    input: {
      responseCode: 550,
      response:
        "550 5.7.233 - Your message can't be sent because your tenant exceeded its daily limit for sending email to external recipients (tenant external recipient rate limit)",
    },
  },
  {
    rule: 'm365-continuous-errors',
    input: {
      responseCode: 550,
      response: '550 5.2.252 Sender throttled due to continuous send as denied errors.',
    },
  },
  {
    rule: 'm365-credential',
    input: {
      responseCode: 535,
      response:
        '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.',
    },
  },
  {
    rule: 'm365-sender-denied',
    input: {
      responseCode: 550,
      response: '550 5.7.60 SMTP; Client does not have permissions to send as this sender',
    },
  },
  { rule: 'graph-throttled', input: { httpStatus: 429, graphCode: 'ApplicationThrottled' } },
  { rule: 'graph-too-large', input: { httpStatus: 413, graphCode: 'RequestBodyTooLarge' } },
  { rule: 'graph-send-as-denied', input: { httpStatus: 403, graphCode: 'ErrorSendAsDenied' } },
  { rule: 'graph-access', input: { httpStatus: 404, graphCode: 'MailboxNotEnabledForRESTAPI' } },
  { rule: 'graph-invalid-recipients', input: { httpStatus: 400, graphCode: 'ErrorInvalidRecipients' } },
  { rule: 'graph-5xx', input: { httpStatus: 503, graphCode: 'ServiceUnavailable' } },
  { rule: 'graph-4xx', input: { httpStatus: 400, graphCode: 'ErrorMimeContentInvalidBase64String' } },
  {
    rule: 'smtp-5xx-with-4xx-enhanced',
    input: { responseCode: 550, response: '550 4.7.0 Temporary policy failure' },
  },
  {
    rule: 'smtp-size',
    input: { responseCode: 552, response: '552 5.3.4 Message size exceeds fixed maximum' },
  },
  {
    rule: 'smtp-auth-5xx',
    input: { responseCode: 535, response: '535 5.7.8 Authentication credentials invalid' },
  },
  { rule: 'smtp-5xx', input: { responseCode: 550, response: '550 5.1.1 User unknown' } },
  { rule: 'smtp-4xx', input: { responseCode: 451, response: '451 4.7.0 Temporary server error' } },
  { rule: 'network', input: { code: 'ECONNECTION', message: 'connect ECONNREFUSED 127.0.0.1:9' } },
  { rule: 'dns', input: { code: 'EDNS', message: 'getaddrinfo ENOTFOUND smtp.invalid' } },
  { rule: 'tls', input: { code: 'ESOCKET', message: 'unable to verify the first certificate' } },
  { rule: 'auth', input: { code: 'EAUTH', message: 'Invalid login' } },
  { rule: 'timeout', input: { code: 'ETIMEOUT', message: 'Timeout' } },
];

test('every rule row has a case, and each case is decided by its own row', () => {
  assert.deepEqual(CASES.map((c) => c.rule).sort(), RULES.map((r) => r.name).sort());
  for (const c of CASES) {
    const first = RULES.find((r) => r.test(c.input));
    assert.equal(first?.name, c.rule, `case for ${c.rule} matched ${first?.name}`);
    const verdict = classifyFailure(c.input);
    assert.equal(verdict.action, first!.action);
    assert.equal(verdict.category, first!.category);
  }
});

test('5xx fails, 4xx retries, and the reply text is kept on one line', () => {
  const v = classifyFailure({ responseCode: 550, response: '550-5.7.1 first line\r\n550 5.7.1 second line' });
  assert.equal(v.action, 'fail');
  assert.equal(v.reply, '550-5.7.1 first line 550 5.7.1 second line');
  assert.equal(classifyFailure({ responseCode: 421, response: '421 4.4.2 closing' }).action, 'retry');
});

test('anything unknown is retried, never failed', () => {
  const v = classifyError(new Error('something nobody expected'));
  assert.deepEqual([v.action, v.category], ['retry', 'unknown']);
  assert.equal(classifyError(undefined).action, 'retry');
  assert.equal(classifyError({ code: 'EWEIRD' }).reply, 'EWEIRD');
});

test('a GraphError reaches the Graph rows through classifyError', () => {
  assert.equal(
    classifyError(new GraphError(429, 'ApplicationThrottled', 'over its limit', 1000, 'r1')).category,
    'throttled',
  );
  assert.deepEqual(
    [
      classifyError(new GraphError(400, 'ErrorInvalidRecipients', 'no recipients', null, null)).action,
      classifyError(new GraphError(403, 'ErrorAccessDenied', 'denied', null, null)).category,
    ],
    ['fail', 'credential'],
  );
});
