import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  controlReader,
  createMessageFile,
  ensureSpool,
  listIds,
  readControl,
  removeMessage,
  sweepOrphans,
  writeControl,
  writeFileDurable,
} from '../../../src/spool/spool.js';
import { writeAll } from '../../../src/spool/file.js';
import { tryLock, lockedIds } from '../../../src/spool/lock.js';
import type { ControlRecord } from '../../../src/spool/format.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-spool-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function record(id: string): ControlRecord {
  return {
    v: 1,
    id,
    arrival: Date.now(),
    uid: 0,
    user: 'root',
    sender: 's@x',
    recipients: [{ address: 'a@x', status: 'pending' }],
    body: '7BIT',
    smtputf8: false,
    size: 2,
    origin: 'test',
    attempts: 0,
    nextAttempt: 0,
    hold: false,
    history: [],
  };
}

test('a message is visible only once its control record is committed', async () => {
  const p = ensureSpool(path.join(dir, 's1'));
  const f = await createMessageFile(p);
  await writeAll(f.fh, 'x\n');
  await f.fh.close();
  assert.deepEqual(await listIds(p), []);
  await writeControl(p, record(f.id));
  assert.deepEqual(await listIds(p), [f.id]);
  assert.equal((await readControl(p, f.id)).id, f.id);
  assert.deepEqual(fs.readdirSync(p.tmp), [], 'no temp file left behind');
  await removeMessage(p, f.id);
  assert.deepEqual(await listIds(p), []);
  assert.equal(fs.existsSync(path.join(p.msg, f.id)), false);
});

test('ids created in the same millisecond are distinct (O_EXCL)', async () => {
  const p = ensureSpool(path.join(dir, 's2'));
  const now = Date.now();
  const files = await Promise.all(Array.from({ length: 200 }, () => createMessageFile(p, now)));
  assert.equal(new Set(files.map((f) => f.id)).size, 200);
  await Promise.all(files.map((f) => f.fh.close()));
});

test('orphans older than the grace period are swept; fresh and committed files stay', async () => {
  const p = ensureSpool(path.join(dir, 's3'));
  const committed = await createMessageFile(p);
  await committed.fh.close();
  await writeControl(p, record(committed.id));
  const orphan = await createMessageFile(p);
  await orphan.fh.close();
  const fresh = await createMessageFile(p);
  await fresh.fh.close();
  fs.writeFileSync(path.join(p.tmp, 'leftover.123'), 'x');
  const old = new Date(Date.now() - 7200_000);
  fs.utimesSync(path.join(p.msg, orphan.id), old, old);
  fs.utimesSync(path.join(p.msg, committed.id), old, old);
  fs.utimesSync(path.join(p.tmp, 'leftover.123'), old, old);
  const removed = await sweepOrphans(p, 3600_000);
  assert.deepEqual(removed.sort(), [path.join('msg', orphan.id), path.join('tmp', 'leftover.123')].sort());
  assert.ok(fs.existsSync(path.join(p.msg, committed.id)));
  assert.ok(fs.existsSync(path.join(p.msg, fresh.id)));
});

test('writeFileDurable replaces atomically', async () => {
  const p = ensureSpool(path.join(dir, 's4'));
  const dest = path.join(p.run, 'x');
  await writeFileDurable(p, dest, 'one');
  await writeFileDurable(p, dest, 'two');
  assert.equal(fs.readFileSync(dest, 'utf8'), 'two');
});

test('one lock holder at a time; a stale lock is taken over', async () => {
  const p = ensureSpool(path.join(dir, 's5'));
  const f = await createMessageFile(p);
  await f.fh.close();
  await writeControl(p, record(f.id));
  const release = await tryLock(p, f.id, 2000);
  assert.ok(release);
  assert.equal(await tryLock(p, f.id, 2000), null);
  assert.deepEqual([...(await lockedIds(p))], [f.id]);
  await release!();
  assert.deepEqual([...(await lockedIds(p))], []);
  // A lock left by a dead process (its mtime no longer refreshed) is stale after staleMs.
  fs.mkdirSync(path.join(p.lock, `${f.id}.lock`));
  const old = new Date(Date.now() - 10_000);
  fs.utimesSync(path.join(p.lock, `${f.id}.lock`), old, old);
  const again = await tryLock(p, f.id, 2000);
  assert.ok(again, 'stale lock taken over');
  await again!();
});

test('controlReader: records through one reused buffer, larger ones whole; gone and corrupt ones named', async () => {
  const p = ensureSpool(path.join(dir, 's-reader'));
  const small = record('1M8000000A01');
  const big = { ...record('1M8000000A02'), history: Array.from({ length: 40 }, (_, i) => ({ time: i, event: 'x'.repeat(40) })) };
  await writeControl(p, small);
  await writeControl(p, big);
  fs.writeFileSync(path.join(p.ctl, '1M8000000A03'), '{"v":1,');
  const read = controlReader(p, 256);
  assert.ok(fs.statSync(path.join(p.ctl, big.id)).size > 256, 'the big record does not fit the buffer');
  assert.deepEqual(read(small.id), small);
  assert.deepEqual(read(big.id), big);
  assert.deepEqual(read(small.id), small, 'the buffer holds nothing of the last record');
  assert.equal(read('1M8000000A03'), 'corrupt');
  assert.equal(read('1M8000000A04'), 'gone');
});
