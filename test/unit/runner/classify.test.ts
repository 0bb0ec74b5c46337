/** Outcome classification: one pure function decides sent / deferred / failed (STYLE.md 5). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classify, enhancedCode, isQuota, refusesSender, sentOutcome } from '../../../src/runner/classify.js';

const PEER = 'smtp.example.com[192.0.2.25]:587';

describe('classify', () => {
  it('5xx at RCPT TO is permanent for that recipient, with its enhanced code', () => {
    const o = classify({ code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO', response: '550 5.1.1 <x@y>: No such user' }, PEER);
    assert.equal(o.status, 'failed');
    assert.equal(o.dsn, '5.1.1');
    assert.equal(o.reason, `host ${PEER} said: 550 5.1.1 <x@y>: No such user (in reply to RCPT TO command)`);
    assert.equal(o.fix, undefined);
  });
  it('4xx at RCPT TO is deferred', () => {
    const o = classify({ code: 'EENVELOPE', responseCode: 451, command: 'RCPT TO', response: '451 4.3.0 Try later' }, PEER);
    assert.deepEqual([o.status, o.dsn], ['deferred', '4.3.0']);
  });
  it('552 at RCPT TO is treated as 452 (RFC 5321 4.5.3.1.10)', () => {
    const o = classify({ code: 'EENVELOPE', responseCode: 552, command: 'RCPT TO', response: '552 Too many recipients' }, PEER);
    assert.equal(o.status, 'deferred');
    assert.match(o.dsn, /^4\./);
  });
  it('5xx at DATA is permanent; 5.3.4 (too big) at MAIL FROM is about the message', () => {
    const d = classify({ code: 'EMESSAGE', responseCode: 554, command: 'DATA', response: '554 5.7.1 Rejected' }, PEER);
    assert.deepEqual([d.status, d.dsn], ['failed', '5.7.1']);
    const big = classify({ code: 'EENVELOPE', responseCode: 552, command: 'MAIL FROM', response: '552 5.3.4 Message size exceeds fixed limit' }, PEER);
    assert.deepEqual([big.status, big.dsn, big.fix], ['failed', '5.3.4', undefined]);
  });
  it('an enhanced code of the wrong class is not trusted', () => {
    assert.equal(enhancedCode('550 4.1.1 odd', 550, 'x'), '5.0.0');
    assert.equal(enhancedCode('250 ok', 250, 'x'), '2.0.0');
  });
  it('a 535 at AUTH is deferred, loud, never failed', () => {
    const o = classify({ code: 'EAUTH', responseCode: 535, command: 'AUTH PLAIN', response: '535 5.7.8 Authentication failed' }, PEER);
    assert.equal(o.status, 'deferred');
    assert.equal(o.dsn, '4.7.8');
    assert.ok(o.fix && /password/.test(o.fix));
    assert.match(o.reason, /in reply to AUTH command/);
  });
  it('530 authentication required (at MAIL FROM) is a configuration problem, never a bounce', () => {
    const o = classify({ code: 'EENVELOPE', responseCode: 530, command: 'MAIL FROM', response: '530 5.7.0 Authentication required' }, PEER);
    assert.equal(o.status, 'deferred');
    assert.match(o.fix!, /requires authentication/);
  });
  it('missing credentials (no reply code) is a configuration problem too', () => {
    const o = classify({ code: 'EAUTH', command: 'API', message: 'Missing credentials for "PLAIN"' }, PEER);
    assert.equal(o.status, 'deferred');
    assert.ok(o.fix);
  });
  it('STARTTLS refused with 5xx is deferred and says so, never failed', () => {
    const o = classify({ code: 'ETLS', responseCode: 500, command: 'STARTTLS', response: '500 Error: command not recognized' }, PEER);
    assert.equal(o.status, 'deferred');
    assert.match(o.fix!, /STARTTLS/);
  });
  it('certificate errors are deferred and loud', () => {
    for (const originalCode of ['CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']) {
      const o = classify({ code: 'ECONNECTION', originalCode, command: 'CONN', message: 'x' }, PEER);
      assert.equal(o.status, 'deferred', originalCode);
      assert.match(o.fix!, /certificate/, originalCode);
    }
    const t = classify({ code: 'ETLS', command: 'STARTTLS', message: 'Error initiating TLS - certificate has expired' }, PEER);
    assert.equal(t.status, 'deferred');
    assert.match(t.fix!, /certificate/);
  });
  it('connection problems and timeouts are deferred', () => {
    const r = classify({ code: 'ECONNECTION', originalCode: 'ECONNREFUSED', command: 'CONN', message: 'connect ECONNREFUSED' }, PEER);
    assert.deepEqual([r.status, r.dsn, r.reason], ['deferred', '4.4.1', `connect to ${PEER}: Connection refused`]);
    assert.equal(classify({ code: 'ETIMEDOUT', command: 'CONN', message: 'Greeting never received' }, PEER).dsn, '4.4.2');
    assert.equal(classify({ code: 'ECONNECTION', command: 'CONN', message: 'Connection closed unexpectedly' }, PEER).status, 'deferred');
    assert.equal(classify({}, PEER).status, 'deferred');
  });
  it('421 anywhere and 5xx at the greeting are deferred', () => {
    assert.equal(classify({ code: 'EPROTOCOL', responseCode: 421, command: 'CONN', response: '421 4.3.2 Service not available' }, PEER).status, 'deferred');
    const g = classify({ code: 'EPROTOCOL', responseCode: 554, command: 'CONN', response: '554 No service' }, PEER);
    assert.equal(g.status, 'deferred');
    assert.ok(g.fix);
  });
  it('client-side refusals: too big for SIZE and a bad address fail', () => {
    assert.deepEqual([classify({ code: 'EMESSAGE', command: 'MAIL FROM', message: 'Message size larger than allowed 100' }, PEER).dsn], ['5.3.4']);
    assert.equal(classify({ code: 'EENVELOPE', command: 'API', message: 'Invalid recipient' }, PEER).status, 'failed');
  });
  it('our own configuration failures are deferred with the message as the fix', () => {
    const o = classify({ code: 'ECONFIG', message: 'refusing password file: run chmod 600 /x' }, 'none');
    assert.equal(o.status, 'deferred');
    assert.match(o.fix!, /chmod 600/);
  });
  it('a 250 is sent, multi-line replies are joined', () => {
    assert.deepEqual(sentOutcome(PEER, '250 2.0.0 Ok: queued as 4XYZ'), { status: 'sent', dsn: '2.0.0', reason: '250 2.0.0 Ok: queued as 4XYZ' });
    assert.equal(
      classify({ code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO', response: '550-5.1.1 first\n550 5.1.1 second' }, PEER).reason,
      `host ${PEER} said: 550-5.1.1 first 5.1.1 second (in reply to RCPT TO command)`,
    );
  });
});

/**
 * Real replies of real providers (issue 10 §2): each is a fixture. A refused sender is a
 * configuration problem of this host (deferred with a fix, never a bounce to the address the
 * relay has just refused); a quota or throttling reply is temporary whatever its code.
 */
describe('classify: refused senders (held, never bounced)', () => {
  const ctx = { relay: 'env', sender: 'outboxtest@vm' };
  const refusals: [string, string, string][] = [
    // [command, reply, why it is the sender]
    [
      'RCPT TO',
      '504 5.5.2 <outboxtest@vm>: Sender address rejected: need fully-qualified address',
      'Postfix reject_non_fqdn_sender: 5.5.2 is ambiguous, the text decides',
    ],
    ['RCPT TO', '553 5.7.1 <outboxtest@vm>: Sender address rejected: not owned by user outbox', 'Postfix reject_sender_login_mismatch'],
    ['RCPT TO', '450 4.1.8 <outboxtest@vm>: Sender address rejected: Domain not found', '4xx stays an ordinary deferral'],
    ['RCPT TO', '550 5.1.8 <outboxtest@vm>: Sender address rejected: Domain not found', 'Postfix reject_unknown_sender_domain: 5.1.8'],
    ['RCPT TO', '553 5.1.7 <outboxtest@vm>: Sender address rejected: bad address syntax', 'RFC 3463 5.1.7'],
    [
      'DATA',
      '554 5.2.252 SendAsDenied; outboxtest@example.com not allowed to send as app@example.com; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message [BeginDiagnosticData]',
      'Microsoft 365',
    ],
    [
      'DATA',
      '554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: outboxtest@example.com',
      'Amazon SES: no enhanced code, the text decides',
    ],
    ['MAIL FROM', '550 5.7.1 Sender rejected', 'any 5xx to MAIL FROM'],
    ['MAIL FROM', '553 5.7.0 Sender address not allowed', 'any 5xx to MAIL FROM'],
  ];
  for (const [command, response, why] of refusals) {
    it(`${response.slice(0, 60)}... (${why})`, () => {
      const rc = Number(response.slice(0, 3));
      const o = classify({ code: command === 'DATA' ? 'EMESSAGE' : 'EENVELOPE', responseCode: rc, command, response }, PEER, ctx);
      assert.equal(o.status, 'deferred');
      if (rc < 500) {
        assert.equal(o.fix, undefined, 'a 4xx is retried as any other');
        return;
      }
      assert.match(o.dsn, /^4\./);
      assert.ok(o.fix, 'a configuration problem carries its fix');
      assert.match(o.cause!, /^relay env refuses the sender <outboxtest@vm>$/);
      assert.match(o.reason, new RegExp(`^host ${PEER.replace(/[[\].]/g, '\\$&')} said: ${rc}`));
    });
  }
  it('an unqualified sender is told to set the domain; a qualified one to use an address the relay accepts', () => {
    const r = '504 5.5.2 <outboxtest@vm>: Sender address rejected: need fully-qualified address';
    const a = classify({ code: 'EENVELOPE', responseCode: 504, command: 'RCPT TO', response: r }, PEER, ctx);
    assert.equal(a.fix, 'set domain (or OUTBOX_DOMAIN)');
    const b = classify({ code: 'EMESSAGE', responseCode: 554, command: 'DATA', response: '554 5.2.252 SendAsDenied' }, PEER, {
      relay: 'm365',
      sender: 'app@example.com',
    });
    assert.match(b.fix!, /force_sender in \[relay\.m365\].*verify <app@example\.com>/);
  });
  it('recipient refusals stay permanent: the enhanced code is trusted before the text', () => {
    for (const response of [
      '550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in local recipient table',
      '554 5.7.1 <x@example.com>: Relay access denied',
      '550 5.2.1 Mailbox disabled, sender address rejected by policy', // 5.2.1 is about the mailbox
    ]) {
      const o = classify({ code: 'EENVELOPE', responseCode: Number(response.slice(0, 3)), command: 'RCPT TO', response }, PEER, ctx);
      assert.equal(o.status, 'failed', response);
      assert.equal(o.fix, undefined, response);
    }
  });
  it('refusesSender() is pure and decides from the structured fields first', () => {
    assert.equal(refusesSender('MAIL FROM', 550, '5.0.0', '550 go away'), true);
    assert.equal(refusesSender('MAIL FROM', 552, '5.3.4', '552 5.3.4 too big'), false);
    assert.equal(refusesSender('RCPT TO', 550, '5.1.7', '550 5.1.7 whatever'), true);
    assert.equal(refusesSender('RCPT TO', 550, '5.1.1', '550 5.1.1 Sender address rejected'), false);
    assert.equal(refusesSender('RCPT TO', 450, '4.1.8', 'Sender address rejected'), false);
    assert.equal(refusesSender('EHLO', 550, '5.0.0', 'Sender address rejected'), false);
  });
});

describe('classify: quota and throttling are temporary (never bounced)', () => {
  const quotas: [string, string][] = [
    ['RCPT TO', '550 5.4.5 Daily user sending quota exceeded. d2-20020a05600c4b8200b0040e3b9d3a8bsm12345wmp.0 - gsmtp'],
    [
      'RCPT TO',
      '550-5.7.1 [192.0.2.10] Daily SMTP relay limit exceeded for customer C01abcd. 5.7.1 To learn more about SMTP relay sending limits please visit 5.7.1 https://support.google.com/a/answer/166852 - gsmtp',
    ],
    ['MAIL FROM', '454 Throttling failure: Maximum sending rate exceeded.'],
    [
      'DATA',
      '554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception with message [BeginDiagnosticData]',
    ],
  ];
  for (const [command, response] of quotas) {
    it(response.slice(0, 70), () => {
      const o = classify({ code: command === 'DATA' ? 'EMESSAGE' : 'EENVELOPE', responseCode: Number(response.slice(0, 3)), command, response }, PEER, {
        relay: 'env',
        sender: 'a@example.com',
      });
      assert.equal(o.status, 'deferred');
      assert.equal(o.slow, true, 'retried after a longer wait');
      assert.match(o.dsn, /^4\./);
      assert.equal(o.fix, undefined, 'not a configuration problem: the queue lifetime applies');
    });
  }
  it('isQuota() does not take a full mailbox (5.2.2) for a sending quota', () => {
    assert.equal(isQuota('5.2.2', '552 5.2.2 Mailbox full: quota exceeded'), false);
    assert.equal(isQuota('5.4.5', '550 5.4.5 whatever'), true);
  });
});

describe('classify: a configuration problem says its fix once', () => {
  it('a secret refused for its mode: the reason and the fix are apart, never repeated', () => {
    const message = 'relay env: password_file: refusing /etc/outbox/pw: is readable or writable by others (mode 0644); fix with: chmod o-rwx FILE';
    const o = classify({ code: 'ECONFIG', message }, 'env', { relay: 'env' });
    assert.equal(o.reason, 'relay env: password_file: refusing /etc/outbox/pw: is readable or writable by others (mode 0644)');
    assert.equal(o.fix, 'chmod o-rwx FILE');
  });
  it('no relay configured: the fix is the setting to make', () => {
    const o = classify({ code: 'ECONFIG', message: 'no relay configured: set OUTBOX_RELAY=smtp+starttls://user@host:587' }, 'env');
    assert.equal(o.reason, 'no relay configured');
    assert.match(o.fix!, /^set OUTBOX_RELAY=/);
  });
});

describe('classify: a local recipient without a domain, refused (held, never bounced)', () => {
  const reply = '504 5.5.2 <root@vm>: Recipient address rejected: need fully-qualified address';
  const f = { code: 'EENVELOPE', responseCode: 504, command: 'RCPT TO', response: reply, recipient: 'root@vm' };

  it('is a configuration problem when the plan marked it unqualified: deferred with the fix', () => {
    const o = classify(f, 'relay[192.0.2.1]:587', { relay: 'env', sender: 'cron@example.org', unqualified: new Set(['root@vm']) });
    assert.equal(o.status, 'deferred');
    assert.equal(o.dsn, '4.5.2');
    assert.equal(o.cause, 'relay env refuses the local recipient <root@vm>, which has no domain');
    assert.match(o.fix!, /^set domain \(or OUTBOX_DOMAIN\)/);
  });

  it('is the recipient failure it always was for any other address', () => {
    const o = classify({ ...f, recipient: 'user@intranet', response: reply.replace('root@vm', 'user@intranet') }, 'relay[192.0.2.1]:587', {
      relay: 'env',
      unqualified: new Set(['root@vm']),
    });
    assert.equal(o.status, 'failed');
    assert.equal(o.fix, undefined);
  });
});
