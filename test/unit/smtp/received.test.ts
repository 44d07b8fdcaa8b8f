import assert from 'node:assert/strict';
import { test } from 'node:test';

import { buildReceived, headerEnd, headerValue, rfc5322Date } from '../../../src/smtp/received.ts';

test('Received: names the client, us, the protocol and the id; "for" only with one recipient', () => {
  const base = {
    helo: 'mfp-3.lan',
    ip: '10.1.2.3',
    byHost: 'relay.example',
    queueId: 'Q1',
    protocol: 'ESMTPS',
    tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
    date: new Date(Date.UTC(2026, 10, 22, 9, 5, 7)),
  };
  assert.equal(
    buildReceived({ ...base, recipient: 'a@example.net' }),
    'Received: from mfp-3.lan ([10.1.2.3])\r\n\tby relay.example (Bridgehead) with ESMTPS id Q1\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n\tfor <a@example.net>;\r\n\tSun, 22 Nov 2026 09:05:07 +0000\r\n',
  );
  assert.doesNotMatch(buildReceived({ ...base, tls: null, recipient: null }), /for <|using/);
});

test('client-controlled HELO text cannot inject header lines', () => {
  const h = buildReceived({
    helo: 'evil\r\nBcc: victim@example.com',
    ip: '10.0.0.1',
    byHost: 'r',
    queueId: 'Q',
    protocol: 'ESMTP',
    tls: null,
    recipient: null,
    date: new Date(0),
  });
  assert.equal(h.split('\r\n').filter((l) => /^\S/.test(l)).length, 1, 'a single header');
  assert.doesNotMatch(h, /\r\nBcc:/);
});

test('headerValue unfolds, ignores the body and tolerates bare LF', () => {
  const msg = Buffer.from('Subject: a\r\nMessage-ID:\r\n <x@y>\r\n\r\nMessage-ID: <body@z>\r\n');
  assert.equal(headerValue(msg, 'message-id'), '<x@y>');
  assert.equal(headerValue(Buffer.from('Subject: a\n\nMessage-ID: <b@z>\n'), 'message-id'), null);
  assert.equal(headerValue(Buffer.from('message-id: <lf@z>\nSubject: s\n\nbody'), 'Message-ID'), '<lf@z>');
  assert.equal(headerEnd(Buffer.from('A: b\r\n\r\nc')), 8);
  assert.equal(rfc5322Date(new Date(Date.UTC(2000, 0, 1))), 'Sat, 1 Jan 2000 00:00:00 +0000');
});
