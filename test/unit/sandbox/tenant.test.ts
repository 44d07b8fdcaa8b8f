import assert from 'node:assert/strict';
import { test } from 'node:test';

import { certCovers } from '../../../src/sandbox/mx.ts';
import { demoTenant, isAccepted, mxHostName, parseTenant } from '../../../src/sandbox/tenant.ts';

test('the demo tenant has alice, the scanner service account and an app with SMTP.SendAsApp and Mail.Send', () => {
  const t = demoTenant();
  assert.deepEqual(
    t.mailboxes.map((m) => m.address),
    ['alice@contoso.com', 'scanner@contoso.com'],
  );
  assert.deepEqual(t.apps[0]!.permissions, ['SMTP.SendAsApp', 'Mail.Send', 'Mail.ReadWrite']);
  assert.equal(t.limits.messagesPerMinute, 30);
  assert.equal(t.limits.recipientsPerDay, 10_000);
  assert.equal(t.limits.concurrentConnections, 3);
  assert.equal(t.mailboxes[0]!.recipientLimit, 500);
  assert.ok(isAccepted(t, 'Someone@CONTOSO.com'));
  assert.equal(mxHostName('contoso.co.uk'), 'contoso-co-uk.mail.protection.outlook.com');
});

test('tenant errors are reported with their paths, all at once', () => {
  assert.throws(
    () =>
      parseTenant({
        tenantId: 'not-a-guid',
        acceptedDomains: ['contoso.com'],
        mailboxes: [{ address: 'bob@fabrikam.com' }],
        connectors: [{ name: 'printers', type: 'OnPremises' }],
        organization: { rejectDirectSend: 'yes' },
      }),
    (err: Error) => {
      for (const path of ['tenantId', 'organization.rejectDirectSend'])
        assert.match(err.message, new RegExp(`${path.replace('.', '\\.')}:`));
      return true;
    },
  );
  assert.throws(
    () =>
      parseTenant({
        tenantId: '7d3c6a52-0d4e-4e7f-9a55-2f0a1c1b0c01',
        acceptedDomains: ['contoso.com'],
        mailboxes: [{ address: 'bob@fabrikam.com' }],
        connectors: [{ name: 'x', type: 'OnPremises' }],
      }),
    /mailboxes\.0\.address: bob@fabrikam\.com is not in an accepted domain[\s\S]*connectors\.0: a connector needs senderIpRanges or tlsCertificateDomain/,
  );
});

test('certificate names cover a connector domain exactly or by wildcard, and only accepted domains count', () => {
  const accepted = (d: string) => d === 'contoso.com';
  assert.ok(certCovers(['relay.contoso.com', 'contoso.com'], 'contoso.com', accepted));
  assert.ok(certCovers(['*.contoso.com'], 'contoso.com', accepted));
  assert.ok(!certCovers(['relay.fabrikam.com'], 'contoso.com', accepted));
  assert.ok(!certCovers(['fabrikam.com'], 'fabrikam.com', accepted), 'not an accepted domain');
});
