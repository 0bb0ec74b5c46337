import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyChange, formatShow, matchesFilter, parseQueueArgs } from '../../../src/queue/manage.js';
import type { ControlRecord } from '../../../src/spool/format.js';
import { OutboxError } from '../../../src/sysexits.js';

const ID = '1M815A0FX6KD';
const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);

function record(over: Partial<ControlRecord> = {}): ControlRecord {
  return {
    v: 1,
    id: ID,
    arrival: NOW - 3_600_000,
    uid: 1000,
    user: 'alice',
    sender: 'cron@example.com',
    recipients: [
      { address: 'root@example.com', status: 'deferred', reason: 'connect refused', dsn: '4.4.1' },
      { address: 'ops@example.org', status: 'sent', dsn: '2.0.0', relay: 'smtp.example.com[192.0.2.1]:587' },
    ],
    body: '7BIT',
    smtputf8: false,
    size: 1234,
    origin: 'sendmail',
    attempts: 2,
    nextAttempt: NOW + 600_000,
    hold: false,
    history: [{ time: NOW - 3_600_000, event: 'queued', detail: 'uid=1000' }],
    ...over,
  };
}

const usageError = (f: () => unknown) =>
  assert.throws(f, (e: unknown) => e instanceof OutboxError && e.exitCode === 64 && /\nusage: outbox queue/.test(e.message));

test('--older-than: the duration notation of duration.ts (bare seconds, units, fractions, parts)', () => {
  const age = (v: string) => {
    const r = parseQueueArgs(['hold', `--older-than=${v}`]);
    return r.kind === 'change' ? r.filter.olderThanMs : undefined;
  };
  assert.equal(age('30'), 30_000);
  assert.equal(age('15m'), 900_000);
  assert.equal(age('2w'), 1_209_600_000);
  // Refused before --older-than, the file and -q shared one parser.
  assert.equal(age('1.5h'), 5_400_000);
  assert.equal(age('1h30m'), 5_400_000);
  for (const bad of ['', 'd', '-1d', '3y', 'soon']) usageError(() => parseQueueArgs(['hold', '--older-than', bad]));
});

test('parseQueueArgs: ids (upper-cased, any order of options), --all, filters, -C, show options', () => {
  assert.deepEqual(parseQueueArgs(['hold', ID.toLowerCase(), '-C', '/etc/o.conf']), {
    kind: 'change',
    action: 'hold',
    configFile: '/etc/o.conf',
    ids: [ID],
    all: false,
    filter: { senders: [], recipients: [], held: false, deferred: false, olderThanMs: 0 },
  });
  const all = parseQueueArgs(['delete', 'ALL']);
  assert.equal(all.kind === 'change' && all.all, true);
  const f = parseQueueArgs(['requeue', '--sender=a', '--sender', 'b', '--recipient=c', '--deferred', '--older-than=1h', '-C/x']);
  assert.deepEqual(f, {
    kind: 'change',
    action: 'requeue',
    configFile: '/x',
    ids: [],
    all: false,
    filter: { senders: ['a', 'b'], recipients: ['c'], held: false, deferred: true, olderThanMs: 3_600_000 },
  });
  assert.deepEqual(parseQueueArgs(['show', '--no-body', ID]), { kind: 'show', configFile: undefined, id: ID, body: false, json: false, raw: false });
  assert.deepEqual(parseQueueArgs(['show', ID, '--json']), { kind: 'show', configFile: undefined, id: ID, body: true, json: true, raw: false });
  assert.deepEqual(parseQueueArgs(['show', '--raw', ID]), { kind: 'show', configFile: undefined, id: ID, body: true, json: false, raw: true });
});

test('parseQueueArgs: every misuse is EX_USAGE with the usage text', () => {
  usageError(() => parseQueueArgs([]));
  assert.deepEqual(parseQueueArgs(['--help']), { kind: 'help' });
  usageError(() => parseQueueArgs(['purge', ID]));
  usageError(() => parseQueueArgs(['hold']));
  usageError(() => parseQueueArgs(['hold', 'NOTANID']));
  usageError(() => parseQueueArgs(['hold', '1M815A0FX6KU'])); // U is not in Crockford base32
  usageError(() => parseQueueArgs(['hold', ID, '--all']));
  usageError(() => parseQueueArgs(['hold', '--all', '--held']));
  usageError(() => parseQueueArgs(['hold', '--sender']));
  usageError(() => parseQueueArgs(['hold', '--older-than=x']));
  usageError(() => parseQueueArgs(['show']));
  usageError(() => parseQueueArgs(['show', ID, ID]));
  usageError(() => parseQueueArgs(['show', '--all']));
  usageError(() => parseQueueArgs(['hold', '--no-body', ID]));
});

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
