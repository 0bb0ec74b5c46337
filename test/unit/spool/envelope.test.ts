/** Unit tests of spool/envelope.ts: the drop envelope's re-validation. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateEnvelope } from '../../../src/spool/envelope.js';

const now = 1_800_000_000_000;
const expect = { id: '1M815FA3EF5H', uid: 1000, user: 'alice', size: 42, domain: 'example.test', now, drop: '1M815FA3EF5H.' + 'a'.repeat(32) };
const good = {
  v: 1,
  id: '1M815FA3EF5H',
  arrival: now - 1000,
  uid: 0,
  user: 'root',
  sender: 'alice@example.test',
  recipients: [{ address: 'bob@example.com', status: 'pending', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;bob@example.com' }],
  ret: 'HDRS',
  envid: 'abc123',
  body: '8BITMIME',
  smtputf8: false,
  size: 42,
  origin: 'sendmail',
  attempts: 7,
  nextAttempt: now + 1e9,
  hold: true,
  bounce: true,
  history: [{ time: 0, event: 'fake' }],
};

test('a good envelope: identity from the caller, state fields fresh, unknown fields dropped', () => {
  const r = validateEnvelope(JSON.stringify(good), expect);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.rec.uid, 1000);
  assert.equal(r.rec.user, 'alice');
  assert.equal(r.rec.attempts, 0);
  assert.equal(r.rec.nextAttempt, 0);
  assert.equal(r.rec.hold, false);
  assert.equal(r.rec.bounce, undefined);
  assert.equal(r.rec.drop, expect.drop);
  assert.equal(r.rec.ret, 'HDRS');
  assert.equal(r.rec.envid, 'abc123');
  assert.equal(r.rec.body, '8BITMIME');
  assert.deepEqual(r.rec.recipients, [{ address: 'bob@example.com', status: 'pending', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;bob@example.com' }]);
  assert.equal(r.rec.history.length, 1);
  assert.equal(r.rec.arrival, now - 1000);
});

test('implausible arrival times are replaced by now', () => {
  for (const arrival of [now + 3600_000, now - 30 * 86_400_000]) {
    const r = validateEnvelope(JSON.stringify({ ...good, arrival }), expect);
    assert.ok(r.ok && r.rec.arrival === now);
  }
});

test('bad envelopes are refused with a reason', () => {
  const cases: [unknown, RegExp][] = [
    ['{', /not JSON/],
    ['[]', /not an object/],
    [{ ...good, id: '1M815FA3EF5J' }, /does not match the entry name/],
    [{ ...good, size: 41 }, /does not match the message file/],
    [{ ...good, sender: 'a@b\nc' }, /control character/],
    [{ ...good, recipients: [] }, /no recipients/],
    [{ ...good, recipients: [{ address: '-oQ/tmp@x' }] }, /may not start with '-'/],
    [{ ...good, recipients: [{ address: 'a@example.com\r\nRCPT TO:<b@x>' }] }, /control character/],
    [{ ...good, recipients: [{ address: 'a@x', notify: ['SOMETIMES'] }] }, /notify/],
    [{ ...good, recipients: Array.from({ length: 10_001 }, () => ({ address: 'a@x' })) }, /more than 10000/],
    [{ ...good, ret: 'ALL' }, /ret/],
    [{ ...good, envid: 'has space' }, /envid/],
    [{ ...good, body: 'BINARYMIME' }, /body/],
    [{ ...good, v: 2 }, /newer/],
  ];
  for (const [input, re] of cases) {
    const r = validateEnvelope(typeof input === 'string' ? input : JSON.stringify(input), expect);
    assert.equal(r.ok, false, JSON.stringify(input).slice(0, 80));
    if (!r.ok) assert.match(r.error, re);
  }
});
