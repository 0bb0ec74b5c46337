/** Stuck mail grouped by cause (mailq summary, mailq --json, outbox check --queue): pure functions. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProblemSummary, formatSummary, problemOf, withFix } from '../../../src/queue/problems.js';
import { formatEntry, jsonEntry } from '../../../src/queue/mailq.js';
import { judge, formatAge, OK, WARNING, CRITICAL } from '../../../src/commands/check-queue.js';
import type { ControlRecord, RecipientState } from '../../../src/spool/format.js';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);
let n = 0;

function record(rcpt: Partial<RecipientState>, over: Partial<ControlRecord> = {}): ControlRecord {
  n++;
  return {
    v: 1,
    id: `1M815A0FX${String(n).padStart(3, '0')}`,
    arrival: NOW - 3_600_000,
    uid: 1000,
    user: 'alice',
    sender: 'outboxtest@vm',
    recipients: [{ address: 'a@example.com', status: 'deferred', ...rcpt }],
    body: '7BIT',
    smtputf8: false,
    size: 300,
    origin: 'sendmail',
    attempts: 1,
    nextAttempt: NOW + 600_000,
    hold: false,
    history: [],
    ...over,
  };
}

const REFUSED = {
  reason: 'host localhost[127.0.0.1]:587 said: 504 5.5.2 <outboxtest@vm>: Sender address rejected: need fully-qualified address (in reply to RCPT TO command)',
  cause: 'relay env refuses the sender <outboxtest@vm>',
  fix: 'set domain (or OUTBOX_DOMAIN)',
};

describe('problems', () => {
  it('groups held messages by cause, worst kind first, with the fix', () => {
    const s = new ProblemSummary();
    for (let i = 0; i < 7; i++) s.add(record(REFUSED));
    s.add(record({ reason: 'connect to localhost[127.0.0.1]:587: Connection refused' }));
    s.add(record({ reason: 'x' }, { hold: true, sender: '' }));
    s.add(record({ status: 'pending' }, { attempts: 0 })); // never tried: no problem
    const text = formatSummary(s.groups());
    assert.equal(
      text,
      'Problems:\n' +
        '  7 held: relay env refuses the sender <outboxtest@vm>: set domain (or OUTBOX_DOMAIN)\n' +
        '  1 failed bounce(s) held: undeliverable bounce (x): set postmaster (or OUTBOX_POSTMASTER) and release it: outbox queue release ID\n' +
        '  1 deferred: connect to localhost[127.0.0.1]:587: Connection refused\n\n',
    );
    assert.deepEqual([s.count('held'), s.count('deferred'), s.count('failed-bounce')], [7, 1, 1]);
    assert.equal(formatSummary([]), '');
  });
  it('a hold route is a problem of kind held, with its rule and line', () => {
    const p = problemOf(record({ status: 'pending', reason: 'held by route 2 (/etc/outbox/outbox.conf:14): relay = "hold"' }, { attempts: 0 }));
    assert.deepEqual(p, { kind: 'held', cause: 'held by route 2 (/etc/outbox/outbox.conf:14): relay = "hold"' });
  });
  it('mailq: one reason, one fix (never the fix twice)', () => {
    const rec = record(
      {
        reason: 'relay env: password_file: refusing /x: is readable or writable by others (mode 0644)',
        fix: 'chmod o-rwx FILE',
        cause: 'relay env: password_file: refusing /x',
      },
      { nextAttempt: 0 },
    );
    const text = formatEntry({ rec, active: false }, NOW);
    assert.match(text, /\(relay env: password_file: refusing \/x: is readable or writable by others \(mode 0644\); fix: chmod o-rwx FILE\)\n/);
    assert.equal(text.match(/fix/g)!.length, 1, text);
    assert.equal(withFix('a; fix with: b', 'b'), 'a; fix with: b');
  });
  it('mailq --json carries the problem per message', () => {
    const j = JSON.parse(jsonEntry({ rec: record(REFUSED), active: false }));
    assert.deepEqual(j.problem, { kind: 'held', cause: REFUSED.cause, fix: REFUSED.fix });
    assert.match(j.recipients[0].delay_reason, /need fully-qualified address .*; fix: set domain/);
  });
});

describe('check --queue: judge()', () => {
  const t = { maxAgeMs: 3600_000, maxHeld: 0 };
  const facts = { messages: 0, held: 0, deferred: 0, failedBounces: 0, onHold: 0, oldest: null, groups: [] };
  it('OK on an empty queue, with perfdata', () => {
    const r = judge(facts, t, NOW);
    assert.equal(r.status, OK);
    assert.equal(
      r.text,
      'OUTBOX QUEUE OK - queue empty; 0 held, 0 deferred, 0 failed bounce(s) | messages=0;;;0 held=0;;0;0 deferred=0;;;0 failed_bounces=0;;0;0 on_hold=0;;;0 oldest=0s;3600;;0\n',
    );
  });
  it('WARNING when the oldest waiting message is older than --max-age', () => {
    const s = new ProblemSummary();
    const rec = record({ reason: 'connect to x: Connection refused' }, { arrival: NOW - 2 * 3600_000 });
    s.add(rec);
    const r = judge({ ...facts, messages: 1, deferred: 1, oldest: rec.arrival, groups: s.groups() }, t, NOW);
    assert.equal(r.status, WARNING);
    assert.match(
      r.text,
      /^OUTBOX QUEUE WARNING - 1 deferred: connect to x: Connection refused; 0 held, 1 deferred, 0 failed bounce\(s\); oldest 2h \(more than 1h\) \| .*oldest=7200s;3600;;0\n/,
    );
  });
  it('CRITICAL when more than --max-held are held, naming the cause', () => {
    const s = new ProblemSummary();
    for (let i = 0; i < 3; i++) s.add(record(REFUSED, { arrival: NOW - 60_000 }));
    const f = { ...facts, messages: 3, held: 3, oldest: NOW - 60_000, groups: s.groups() };
    const r = judge(f, t, NOW);
    assert.equal(r.status, CRITICAL);
    assert.match(r.text, /^OUTBOX QUEUE CRITICAL - 3 held: relay env refuses the sender <outboxtest@vm>: set domain \(or OUTBOX_DOMAIN\); 3 held/);
    assert.equal(judge(f, { ...t, maxHeld: 3 }, NOW).status, OK, '--max-held 3 tolerates three');
  });
  it('ages read like people write them', () => {
    assert.deepEqual([formatAge(45_000), formatAge(3 * 3600_000 + 120_000), formatAge(2 * 86_400_000)], ['45s', '3h 2m', '2d']);
  });
});
