/** TLS failure wording (src/relay/tls-errors.ts) as delivery's reasons say it (classify.ts). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { tlsAlert, tlsFailureText, withoutNodeHints } from '../../../src/relay/tls-errors.js';
import { classify } from '../../../src/runner/classify.js';

const PEER = 'smtp.example.com[192.0.2.1]:465';
const ALERT80 =
  '4083E7F1C27F0000:error:0A000438:SSL routines:ssl3_read_bytes:tlsv1 alert internal error:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1605:SSL alert number 80\n';

it('a server alert is said as what happened, with a hint, never as "connect to"', () => {
  assert.deepEqual(tlsAlert(ALERT80)?.text, 'the server sent alert 80 (internal_error)');
  const o = classify({ code: 'ESOCKET', originalCode: 'ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR', message: ALERT80, command: 'CONN' }, PEER);
  assert.deepEqual([o.status, o.dsn, o.reason], ['deferred', '4.7.5', `TLS handshake with ${PEER} failed: the server sent alert 80 (internal_error)`]);
  assert.match(o.fix!, /relay's side/);
  const v = classify({ code: 'ESOCKET', message: ALERT80.replace('number 80', 'number 70') }, PEER);
  assert.match(v.reason, /alert 70 \(protocol_version\)$/);
  assert.match(v.fix!, /TLS 1\.2/);
  assert.match(tlsFailureText(new Error(ALERT80)), /^the TLS handshake failed: the server sent alert 80 \(internal_error\): /);
});

it("Node's --use-system-ca hint is replaced by ours (the executable already trusts the system's CAs)", () => {
  const msg = 'unable to verify the first certificate; if the root CA is installed locally, try running Node.js with --use-system-ca';
  assert.equal(withoutNodeHints(msg), 'unable to verify the first certificate');
  const o = classify({ code: 'ESOCKET', originalCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', message: msg, command: 'CONN' }, PEER);
  assert.equal(o.reason, `TLS with ${PEER} failed: unable to verify the first certificate`);
  assert.doesNotMatch(JSON.stringify(o), /use-system-ca|Node\.js/);
  assert.match(o.fix!, /OUTBOX_RELAY_CA \(ca_file\)/);
  assert.doesNotMatch(tlsFailureText(new Error(msg)), /use-system-ca/);
});
