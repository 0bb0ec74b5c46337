/** Unit tests of the pure parts of `outbox check`'s relay probe: ports (src/relay/ports.ts), the certificate (src/relay/probe-cert.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { portFinding } from '../../../src/relay/ports.js';
import { certFindings, expiredAgo } from '../../../src/relay/probe-cert.js';

describe('outbox check: ports and certificate', () => {
  it('says "port 25 blocked" plainly', () => {
    const t = portFinding(25, { state: 'timeout', ms: 5000 }, 587);
    assert.equal(t.level, 'info');
    assert.match(t.text, /^port 25 blocked: no answer within 5 s \(most ISPs and cloud providers block outgoing port 25; use a relay on 587 or 465\)/);
    assert.match(portFinding(25, { state: 'refused' }, 587).text, /^port 25 blocked or closed: connection refused \(fine: this relay uses port 587\)/);
    assert.equal(portFinding(587, { state: 'refused' }, 587).level, 'fail');
    assert.equal(portFinding(587, { state: 'open', ms: 3 }, 587).level, 'ok');
    assert.match(portFinding(465, { state: 'error', code: 'ENOTFOUND' }, 465).text, /host name not found/);
  });

  it('certificate findings: expiry soon warns; a pin never accepts an untrusted chain or another host', () => {
    const now = Date.parse('2026-11-22T00:00:00Z');
    const cert = {
      raw: Buffer.from('x'),
      subject: { CN: 'localhost' },
      issuer: { CN: 'Test CA' },
      subjectaltname: 'DNS:localhost',
      valid_to: 'Dec  1 00:00:00 2026 GMT',
      fingerprint256: 'AA:' + '00:'.repeat(30) + 'BB',
    };
    const sock = (authorized: boolean, err?: string) => ({ authorized, authorizationError: err as never, getPeerCertificate: () => cert as never });
    const ok = certFindings(sock(true), 'localhost', { name: 'r', url: 'x' }, now);
    assert.equal(ok.trusted, true);
    assert.ok(ok.findings.some((f) => f.level === 'warn' && /expires 2026-12-01: in 9 days/.test(f.text)));
    const self = certFindings(sock(false, 'DEPTH_ZERO_SELF_SIGNED_CERT'), 'localhost', { name: 'r', url: 'x' }, now);
    assert.equal(self.trusted, false);
    assert.ok(self.findings.some((f) => f.level === 'fail' && /self-signed/.test(f.text)));
    // The hint names the setting where this relay is configured: OUTBOX_RELAY_CA for the environment's.
    assert.ok(self.findings.some((f) => /trust its CA with ca_file/.test(f.text)));
    const envSelf = certFindings(sock(false, 'DEPTH_ZERO_SELF_SIGNED_CERT'), 'localhost', { name: 'env', url: 'x' }, now);
    assert.ok(envSelf.findings.some((f) => /trust its CA with OUTBOX_RELAY_CA/.test(f.text) && !/ca_file/.test(f.text)));
    const envUntrusted = certFindings(sock(false, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'localhost', { name: 'env', url: 'x' }, now);
    assert.ok(envUntrusted.findings.some((f) => /set OUTBOX_RELAY_CA/.test(f.text)));
    // A pin is checked in addition to verification, never instead: delivery refuses this, so check does.
    const pinned = certFindings(sock(false, 'DEPTH_ZERO_SELF_SIGNED_CERT'), 'localhost', { name: 'r', url: 'x', fingerprints: [cert.fingerprint256] }, now);
    assert.equal(pinned.trusted, false);
    assert.ok(
      pinned.findings.some((f) => f.level === 'fail' && /self-signed.*the pin does not replace verification/.test(f.text)),
      JSON.stringify(pinned.findings),
    );
    assert.ok(!pinned.findings.some((f) => /accepted because of the pin/.test(f.text)));
    const pinnedOk = certFindings(sock(true), 'localhost', { name: 'r', url: 'x', fingerprints: [cert.fingerprint256.replace(/:/g, '').toLowerCase()] }, now);
    assert.equal(pinnedOk.trusted, true);
    assert.ok(pinnedOk.findings.some((f) => f.level === 'ok' && /matches the configured fingerprint pin/.test(f.text)));
    const otherHost = certFindings(sock(false, 'ERR_TLS_CERT_ALTNAME_INVALID'), '127.0.0.1', { name: 'r', url: 'x', fingerprints: [cert.fingerprint256] }, now);
    assert.equal(otherHost.trusted, false, 'a pin does not excuse a wrong host name either');
    assert.ok(otherHost.findings.some((f) => f.text === 'certificate is for another host: it names DNS:localhost, the URL says 127.0.0.1'));
    const wrongPin = certFindings(sock(true), 'localhost', { name: 'r', url: 'x', fingerprints: ['CC:' + '00:'.repeat(30) + 'DD'] }, now);
    assert.equal(wrongPin.trusted, false);
  });

  it('says how long ago a certificate expired, never rounding towards a later expiry', () => {
    const now = Date.parse('2026-11-22T12:00:00Z');
    assert.equal(expiredAgo(now - 25 * 3_600_000, now), 'expired 25 hours ago');
    assert.equal(expiredAgo(now - 30 * 60_000, now), 'expired less than an hour ago');
    assert.equal(expiredAgo(now - 1 * 3_600_000, now), 'expired 1 hour ago');
    assert.equal(expiredAgo(now - 3 * 86_400_000 - 5000, now), 'expired 3 days ago');
  });
});
