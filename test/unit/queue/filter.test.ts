/** The one queue filter (queue/filter.ts): `outbox queue` filters and sendmail -qI/-qR/-qS. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchesFilter } from '../../../src/queue/filter.js';
import { matchesFilter as queueRunFilter } from '../../../src/runner/setup.js';
import { NOW, record } from './record.js';

test('matchesFilter: every condition must hold; values of one kind are alternatives', () => {
  const f = { senders: [] as string[], recipients: [] as string[], held: false, deferred: false, olderThanMs: 0 };
  const rec = record();
  assert.equal(matchesFilter(rec, f, NOW), true);
  assert.equal(matchesFilter(rec, { ...f, senders: ['CRON@'] }, NOW), true);
  assert.equal(matchesFilter(rec, { ...f, senders: ['web', 'cron'] }, NOW), true);
  assert.equal(matchesFilter(rec, { ...f, senders: ['web'] }, NOW), false);
  assert.equal(matchesFilter(rec, { ...f, senders: ['<>'] }, NOW), false);
  assert.equal(matchesFilter(record({ sender: '' }), { ...f, senders: ['<>'] }, NOW), true);
  assert.equal(matchesFilter(rec, { ...f, recipients: ['root@'] }, NOW), true);
  assert.equal(matchesFilter(rec, { ...f, recipients: ['ops@'] }, NOW), false, 'only pending recipients count');
  assert.equal(matchesFilter(rec, { ...f, held: true }, NOW), false);
  assert.equal(matchesFilter(record({ hold: true }), { ...f, held: true }, NOW), true);
  assert.equal(matchesFilter(rec, { ...f, deferred: true }, NOW), true);
  assert.equal(matchesFilter(record({ attempts: 0 }), { ...f, deferred: true }, NOW), false);
  assert.equal(matchesFilter(rec, { ...f, olderThanMs: 3_599_000 }, NOW), true);
  assert.equal(matchesFilter(rec, { ...f, olderThanMs: 3_600_000 }, NOW), false);
  assert.equal(matchesFilter(rec, { ...f, senders: ['cron'], held: true }, NOW), false);
});

test('matchesFilter: -qI ids, and the null sender as <> for -qS as for --sender', () => {
  const rec = record();
  assert.equal(matchesFilter(rec, { ids: ['815a0'] }, NOW), true, 'ids: case-blind substring');
  assert.equal(matchesFilter(rec, { ids: ['ZZZ', '0FX6'] }, NOW), true);
  assert.equal(matchesFilter(rec, { ids: ['ZZZ'] }, NOW), false);
  // sendmail -qS<> (flags.ts lowercases the value) selects bounces, as `outbox queue --sender='<>'` does.
  const bounce = record({ sender: '' });
  assert.equal(queueRunFilter(bounce, { ids: [], recipients: [], senders: ['<>'] }), true);
  assert.equal(matchesFilter(rec, { ids: [], recipients: [], senders: ['<>'] }), false);
  assert.equal(matchesFilter(bounce, { ids: [], recipients: [], senders: [''] }), true, 'an empty -qS matches every sender');
});
