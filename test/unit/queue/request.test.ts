/** Unit tests: queue/request.ts, the arguments of `outbox queue` (through cli/args.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQueueArgs } from '../../../src/queue/request.js';
import { OutboxError } from '../../../src/sysexits.js';

const ID = '1M815A0FX6KD';

const usageError = (f: () => unknown) =>
  assert.throws(f, (e: unknown) => e instanceof OutboxError && e.exitCode === 64 && /^queue( \w+)?: .+ \(see outbox queue --help\)$/.test(e.message));

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

test('parseQueueArgs: every misuse is EX_USAGE, one line pointing at the usage', () => {
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
