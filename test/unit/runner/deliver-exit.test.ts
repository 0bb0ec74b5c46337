/** The exit status of `outbox deliver` (and so of sendmail -odi) for each outcome. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exitForResult } from '../../../src/commands/deliver.js';
import { matchesFilter } from '../../../src/runner/setup.js';
import type { Outcome } from '../../../src/runner/classify.js';
import { parseControl } from '../../../src/spool/format.js';

const o = (status: Outcome['status'], dsn: string): Outcome => ({ status, dsn, reason: 'r' });
const m = (...xs: Outcome[]) => new Map(xs.map((x, i) => [`r${i}@x`, x]));

describe('exitForResult', () => {
  it('0 all sent or already gone; 75 deferred, held, locked', () => {
    assert.equal(exitForResult({ state: 'done', outcomes: m(o('sent', '2.0.0')), remaining: 0 }), 0);
    assert.equal(exitForResult({ state: 'gone', outcomes: m(), remaining: 0 }), 0);
    assert.equal(exitForResult({ state: 'done', outcomes: m(o('sent', '2.0.0'), o('deferred', '4.3.0')), remaining: 1 }), 75);
    assert.equal(exitForResult({ state: 'held', outcomes: m(), remaining: 1 }), 75);
    assert.equal(exitForResult({ state: 'locked', outcomes: m(), remaining: 1 }), 75);
    assert.equal(exitForResult({ state: 'error', outcomes: m(), remaining: 1 }), 75);
  });
  it('permanent failures map to 67, 68, 65, 69', () => {
    assert.equal(exitForResult({ state: 'done', outcomes: m(o('sent', '2.0.0'), o('failed', '5.1.1')), remaining: 0 }), 67);
    assert.equal(exitForResult({ state: 'done', outcomes: m(o('failed', '5.1.2')), remaining: 0 }), 68);
    assert.equal(exitForResult({ state: 'done', outcomes: m(o('failed', '5.6.0')), remaining: 0 }), 65);
    assert.equal(exitForResult({ state: 'done', outcomes: m(o('failed', '5.7.1')), remaining: 0 }), 69);
  });
});

describe('-qI / -qR / -qS filters', () => {
  const rec = parseControl(
    JSON.stringify({
      v: 1,
      id: '1M8156742G9Z',
      arrival: 1,
      sender: 'Cron@Host.example',
      recipients: [{ address: 'admin@example.com' }, { address: 'done@example.com', status: 'sent' }],
    }),
  );
  it('match substrings, case-blind, pending recipients only', () => {
    assert.equal(matchesFilter(rec, { ids: [], recipients: [], senders: [] }), true);
    assert.equal(matchesFilter(rec, { ids: ['56742'], recipients: [], senders: [] }), true);
    assert.equal(matchesFilter(rec, { ids: ['ZZZ'], recipients: [], senders: [] }), false);
    assert.equal(matchesFilter(rec, { ids: [], recipients: ['ADMIN@'], senders: [] }), true);
    assert.equal(matchesFilter(rec, { ids: [], recipients: ['done@'], senders: [] }), false);
    assert.equal(matchesFilter(rec, { ids: [], recipients: [], senders: ['cron@host'] }), true);
    assert.equal(matchesFilter(rec, { ids: [], recipients: [], senders: ['nobody'] }), false);
  });
});
