/** Outcome classification: one pure function decides sent / deferred / failed (STYLE.md 5). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classify, enhancedCode, sentOutcome } from '../../../src/runner/classify.js';

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
  it('5xx at MAIL FROM and at DATA is permanent', () => {
    assert.equal(classify({ code: 'EENVELOPE', responseCode: 553, command: 'MAIL FROM', response: '553 5.7.1 Sender rejected' }, PEER).status, 'failed');
    const d = classify({ code: 'EMESSAGE', responseCode: 554, command: 'DATA', response: '554 5.7.1 Rejected' }, PEER);
    assert.deepEqual([d.status, d.dsn], ['failed', '5.7.1']);
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
    assert.deepEqual(
      [classify({ code: 'EMESSAGE', command: 'MAIL FROM', message: 'Message size larger than allowed 100' }, PEER).dsn],
      ['5.3.4'],
    );
    assert.equal(classify({ code: 'EENVELOPE', command: 'API', message: 'Invalid recipient' }, PEER).status, 'failed');
  });
  it('our own configuration failures are deferred with the message as the fix', () => {
    const o = classify({ code: 'ECONFIG', message: 'refusing password file: run chmod 600 /x' }, 'none');
    assert.equal(o.status, 'deferred');
    assert.match(o.fix!, /chmod 600/);
  });
  it('a 250 is sent, multi-line replies are joined', () => {
    assert.deepEqual(sentOutcome(PEER, '250 2.0.0 Ok: queued as 4XYZ'), { status: 'sent', dsn: '2.0.0', reason: '250 2.0.0 Ok: queued as 4XYZ' });
    assert.equal(classify({ code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO', response: '550-5.1.1 first\n550 5.1.1 second' }, PEER).reason, `host ${PEER} said: 550-5.1.1 first 5.1.1 second (in reply to RCPT TO command)`);
  });
});
