import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyChange, formatShow } from '../../../src/queue/manage.js';
import { ID, NOW, record } from './record.js';

test('applyChange: hold/release are idempotent (null = no change), requeue resets the schedule only', () => {
  const rec = record();
  const held = applyChange(rec, 'hold', 'uid 0 (root)', NOW)!;
  assert.equal(held.hold, true);
  assert.deepEqual(held.history.at(-1), { time: NOW, event: 'held', detail: 'by uid 0 (root)' });
  assert.equal(rec.hold, false, 'the input record is not changed');
  assert.equal(applyChange(held, 'hold', 'x', NOW), null);
  assert.equal(applyChange(rec, 'release', 'x', NOW), null);
  assert.equal(applyChange(held, 'release', 'x', NOW)!.hold, false);
  const rq = applyChange(rec, 'requeue', 'x', NOW)!;
  assert.equal(rq.nextAttempt, 0);
  assert.equal(rq.attempts, 2);
  assert.equal(rq.arrival, rec.arrival);
  assert.deepEqual(rq.recipients, rec.recipients);
  // History stays bounded.
  let r = rec;
  for (let i = 0; i < 200; i++) r = applyChange(r, 'requeue', 'x', NOW)!;
  assert.equal(r.history.length, 50);
});

test('formatShow: state line, recipients with outcomes, history in UTC', () => {
  const text = formatShow(record({ lastError: 'connect to smtp.example.com[192.0.2.1]:587: Connection refused' }), false, NOW);
  const lines = text.split('\n');
  assert.equal(lines[0], `Queue ID:    ${ID}`);
  assert.equal(lines[1], 'State:       deferred, next attempt 2026-11-22T12:10:00Z; 2 attempts; 1 of 2 recipients pending');
  assert.match(lines[2]!, /^Arrival:     2026-11-22T11:00:00Z \(\w{3} Nov 22 \d\d:00:00, local time\)$/);
  assert.equal(lines[3], 'Submitted:   uid 1000 (alice) via sendmail');
  assert.equal(lines[4], 'Sender:      <cron@example.com>');
  assert.equal(lines[5], 'Size:        1234 bytes, 7BIT');
  assert.equal(lines[6], 'Last error:  connect to smtp.example.com[192.0.2.1]:587: Connection refused');
  assert.equal(lines[7], 'Recipients:');
  assert.equal(lines[8], '  <root@example.com> deferred: 4.4.1 connect refused');
  assert.equal(lines[9], '  <ops@example.org> sent: 2.0.0 relay smtp.example.com[192.0.2.1]:587');
  assert.equal(lines[10], 'History:');
  assert.equal(lines[11], '  2026-11-22T11:00:00Z queued uid=1000');
  assert.equal(lines[12], '');
  assert.match(formatShow(record({ hold: true }), false, NOW), /^State:       on hold; /m);
  assert.match(formatShow(record(), true, NOW), /^State:       being delivered; /m);
  assert.match(formatShow(record({ attempts: 0, nextAttempt: 0 }), false, NOW), /^State:       queued, due now; 0 attempts;/m);
  assert.match(formatShow(record({ sender: '' }), false, NOW), /^Sender:      <>$/m);
});
