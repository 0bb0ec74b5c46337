/** RFC 3464 reports: structure, per-recipient fields, NOTIFY handling. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildReport, wantsNotice } from '../../../src/runner/bounce.js';

describe('bounce reports', () => {
  const input = {
    kind: 'failed' as const,
    hostname: 'host.example',
    to: 'me@example.com',
    queueId: '1M8156742G9Z',
    arrival: Date.UTC(2026, 10, 22, 8, 0, 0),
    now: Date.UTC(2026, 10, 22, 8, 5, 0),
    envid: 'ENV-1',
    recipients: [
      {
        address: 'bad@example.com',
        orcpt: 'rfc822;Bad@Example.com',
        dsn: '5.1.1',
        reason: 'host mx[192.0.2.1]:587 said: 550 5.1.1 No such user (in reply to RCPT TO command)',
        remoteMta: 'dns; mx',
      },
    ],
    originalHeaders: 'Subject: hi\nFrom: me@example.com\n',
    full: false,
    boundary: 'B1',
  };
  it('is a multipart/report from MAILER-DAEMON with the RFC 3464 fields', () => {
    const r = buildReport(input);
    const text = r.head + r.tailClose;
    assert.match(text, /^From: Mail Delivery System <MAILER-DAEMON@host\.example>\nTo: <me@example\.com>\n/);
    assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status;\n\tboundary="B1"/);
    assert.match(text, /Auto-Submitted: auto-replied/);
    for (const field of [
      'Reporting-MTA: dns; host.example',
      'Original-Envelope-Id: ENV-1',
      'Final-Recipient: rfc822; bad@example.com',
      'Original-Recipient: rfc822; Bad@Example.com',
      'Action: failed',
      'Status: 5.1.1',
      'Remote-MTA: dns; mx',
      'Diagnostic-Code: smtp; 550 5.1.1 No such user',
    ])
      assert.ok(text.includes(`\n${field}\n`), field);
    assert.ok(text.includes('Content-Type: text/rfc822-headers\n\nSubject: hi\nFrom: me@example.com\n'));
    assert.ok(text.endsWith('\n--B1--\n'));
    assert.equal(text.split('\n--B1\n').length, 4);
  });
  it('the full original goes in a message/rfc822 part', () => {
    const r = buildReport({ ...input, full: true });
    assert.ok(r.head.endsWith('Content-Type: message/rfc822\n\n'));
  });
  it('NOTIFY: absent means both; NEVER nothing; otherwise as listed', () => {
    assert.equal(wantsNotice({ address: 'a', status: 'failed' }, 'failed'), true);
    assert.equal(wantsNotice({ address: 'a', status: 'failed' }, 'delayed'), true);
    assert.equal(wantsNotice({ address: 'a', status: 'failed', notify: ['FAILURE'] }, 'delayed'), false);
    assert.equal(wantsNotice({ address: 'a', status: 'failed', notify: ['NEVER'] }, 'failed'), false);
    assert.equal(wantsNotice({ address: 'a', status: 'failed', notify: ['SUCCESS'] }, 'failed'), false);
    assert.equal(wantsNotice({ address: 'a', status: 'failed', notify: ['DELAY', 'FAILURE'] }, 'delayed'), true);
  });
});
