/**
 * The one DSN NOTIFY list (message/dsn.ts checkNotify): sendmail -N, RCPT NOTIFY= and the drop
 * envelope's re-validation accept and store the same lists, so that nothing a submitter accepted
 * is refused (and removed) by pickup afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, type SendOptions } from '../../../src/cli/flags.js';
import { parseRcptTo } from '../../../src/smtpin/protocol.js';
import { validateEnvelope } from '../../../src/spool/envelope.js';
import { checkNotify } from '../../../src/message/dsn.js';

const now = 1_800_000_000_000;
const id = '1M815FA3EF5H';
const expect = { id, uid: 1000, user: 'alice', size: 42, domain: 'example.test', now, drop: `${id}.${'a'.repeat(32)}` };

/** What each of the three entrances stores for a comma-separated list; null when refused. */
function viaFlags(list: string): string[] | null {
  try {
    return (parseArgs(['-N', list, 'bob@example.com']) as SendOptions).dsn.notify ?? null;
  } catch {
    return null;
  }
}
function viaSmtp(list: string): string[] | null {
  const r = parseRcptTo(`TO:<bob@example.com> NOTIFY=${list}`, { domain: 'example.test', esmtp: true, maxSize: 1000, authOffered: false, smtputf8: false });
  return 'address' in r ? (r.notify ?? null) : null;
}
function viaPickup(words: string[]): string[] | null {
  const env = { v: 1, id, arrival: now, sender: '', size: 42, recipients: [{ address: 'bob@example.com', notify: words }] };
  const r = validateEnvelope(JSON.stringify(env), expect);
  return r.ok ? (r.rec.recipients[0]!.notify ?? null) : null;
}

test('NOTIFY: -N, RCPT NOTIFY= and pickup agree on every list', () => {
  const cases: [string, string[] | null][] = [
    ['NEVER', ['NEVER']],
    ['SUCCESS', ['SUCCESS']],
    ['FAILURE,DELAY', ['FAILURE', 'DELAY']],
    ['SUCCESS,DELAY,FAILURE', ['SUCCESS', 'DELAY', 'FAILURE']],
    // Repeats are stored once: before, -N kept all five words and pickup refused more than four.
    ['SUCCESS,SUCCESS,DELAY,DELAY,FAILURE', ['SUCCESS', 'DELAY', 'FAILURE']],
    ['NEVER,NEVER', ['NEVER']],
    // NEVER with another word is refused everywhere (pickup used to accept it).
    ['NEVER,SUCCESS', null],
    ['SOMETIMES', null],
  ];
  for (const [list, want] of cases) {
    assert.deepEqual(checkNotify(list.split(',')), want, `checkNotify ${list}`);
    assert.deepEqual(viaFlags(list.toLowerCase()), want, `-N ${list}`);
    assert.deepEqual(viaSmtp(list), want, `RCPT NOTIFY=${list}`);
    assert.deepEqual(viaPickup(list.split(',')), want, `pickup ${list}`);
  }
  assert.equal(viaPickup([]), null, 'an empty list');
  assert.equal(checkNotify([1]), null, 'not a word');
});
