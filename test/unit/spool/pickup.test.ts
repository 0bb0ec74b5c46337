/** Unit tests: pickup ids, the drop decision, the privilege target. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pickupIds } from '../../../src/spool/pickup.js';
import { usesDropDirectory, DROP_ENVELOPE_RE, DROP_MESSAGE_RE, randomHex128 } from '../../../src/spool/drop.js';
import { targetIdentity } from '../../../src/spool/privileges.js';
import { isQueueId } from '../../../src/spool/format.js';

test('pickupIds: the submitter id first, then distinct derived ids, deterministic', () => {
  const a = pickupIds('1M815FA3EF5H', 'n1');
  assert.equal(a[0], '1M815FA3EF5H');
  assert.ok(a.length >= 6);
  assert.equal(new Set(a).size, a.length);
  for (const id of a) {
    assert.ok(isQueueId(id), id);
    assert.equal(id.slice(0, 9), '1M815FA3E');
  }
  assert.deepEqual(pickupIds('1M815FA3EF5H', 'n1'), a);
  assert.notDeepEqual(pickupIds('1M815FA3EF5H', 'n2'), a);
});

test('drop names: 128-bit random part, the envelope adds .env', () => {
  const r = randomHex128();
  assert.match(r, /^[0-9a-f]{32}$/);
  assert.notEqual(randomHex128(), r);
  assert.ok(DROP_MESSAGE_RE.test(`1M815FA3EF5H.${r}`));
  assert.ok(DROP_ENVELOPE_RE.test(`1M815FA3EF5H.${r}.env`));
  assert.ok(!DROP_ENVELOPE_RE.test(`.1M815FA3EF5H.${r}.env`));
  assert.ok(!DROP_MESSAGE_RE.test(`1M815FA3EF5H.${r}.env`));
});

test('usesDropDirectory: only on the system spool, with incoming/, for others than its owner', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-drop-'));
  try {
    const me = process.getuid!();
    const cfg = { system: true, spool: dir };
    assert.equal(usesDropDirectory(cfg, me), false, 'the owner writes the queue');
    assert.equal(usesDropDirectory(cfg, me + 1), false, 'no incoming/: the queue');
    fs.mkdirSync(path.join(dir, 'incoming'));
    assert.equal(usesDropDirectory(cfg, me + 1), true);
    assert.equal(usesDropDirectory(cfg, me), false);
    assert.equal(usesDropDirectory({ system: false, spool: dir }, me + 1), false, 'per-user spools never drop');
    assert.equal(usesDropDirectory({ system: true, spool: path.join(dir, 'nope') }, me + 1), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('targetIdentity: only root on a system spool owned by someone else drops privileges', () => {
  const st = { uid: 998, gid: 997 };
  assert.deepEqual(targetIdentity(0, true, st), st);
  assert.equal(targetIdentity(1000, true, st), null);
  assert.equal(targetIdentity(0, false, st), null);
  assert.equal(targetIdentity(0, true, { uid: 0, gid: 0 }), null);
  assert.equal(targetIdentity(0, true, null), null);
});
