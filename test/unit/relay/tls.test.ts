/** The one TLS policy (src/relay/tls.ts): fingerprint format, identity check wording, timeouts. */
import assert from 'node:assert/strict';
import type { PeerCertificate } from 'node:tls';
import { it } from 'node:test';
import { relayIdentityCheck, relayPins, relayTimeouts } from '../../../src/relay/tls.js';
import { pemFingerprint } from '../../../src/relay/tls.js';
import { testPki } from '../../helpers/pki.js';

const FP = 'AB:'.repeat(31) + 'CD';
const cert = (san: string, fp = FP) => ({ subject: { CN: 'localhost' }, subjectaltname: san, fingerprint256: fp }) as unknown as PeerCertificate;

it('one fingerprint format: every accepted spelling of a pin is "AA:BB:..", as Node and pemFingerprint give it', () => {
  const hex = FP.replace(/:/g, '');
  assert.deepEqual(relayPins({ name: 'r', url: 'x', fingerprints: [hex.toLowerCase(), FP.toLowerCase(), `sha256:${hex}`] }), [FP, FP, FP]);
  const pki = testPki();
  assert.equal(pemFingerprint(pki.good.cert.toString()), pki.good.sha256);
  assert.deepEqual(relayPins({ name: 'r', url: 'x', fingerprints: [pki.good.sha256Hex] }), [pki.good.sha256]);
  const check = relayIdentityCheck(relayPins({ name: 'r', url: 'x', fingerprints: [hex.toLowerCase()] }));
  assert.equal(check('localhost', cert('DNS:localhost')), undefined);
  assert.equal((check('localhost', cert('DNS:localhost', 'CD:'.repeat(31) + 'AB')) as Error & { code: string }).code, 'ERR_OUTBOX_PIN_MISMATCH');
});

it('a certificate for another host names what it holds (also when the URL holds an IP it lacks)', () => {
  const err = relayIdentityCheck([])('127.0.0.1', cert('DNS:wrong.example')) as Error & { code: string };
  assert.equal(err.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  assert.equal(err.message, 'the certificate is for another host: it names DNS:wrong.example, the relay URL says 127.0.0.1');
  // A matching pin does not excuse a wrong host.
  assert.ok(relayIdentityCheck([FP])('mail.example.com', cert('DNS:wrong.example')));
});

it("the relay's timeouts: its settings, else 30 s to connect, 30 s for the greeting, 120 s per command", () => {
  assert.deepEqual(relayTimeouts({ name: 'r', url: 'x' }), { connectMs: 30_000, greetingMs: 30_000, commandMs: 120_000 });
  assert.deepEqual(relayTimeouts({ name: 'r', url: 'x', connectTimeoutMs: 1, greetingTimeoutMs: 2, commandTimeoutMs: 3, dataTimeoutMs: 4 }), {
    connectMs: 1,
    greetingMs: 2,
    commandMs: 4,
  });
});
