/**
 * Disk full and read-only spool, the runner's side (submit's side: test/e2e/submit.test.ts),
 * on a small tmpfs mounted over the spool:
 *  - full: the runner keeps going, reports every failed spool update, never corrupts a record or
 *    leaves a partial temp file; recipients accepted by the relay whose "sent" could not be
 *    recorded are sent again later (at least once; counted), nothing is lost; a bounce that cannot
 *    be queued leaves the original untouched (retried later);
 *  - read-only: submit exits 73 with nothing committed; the runner cannot lock, so it delivers
 *    nothing, reports each message and exits; once writable again, everything is delivered once.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run, SENDMAIL, MAILQ, controls, tempSpool } from '../helpers/run.js';
import { startRelay } from '../helpers/relay.js';
import { envFor } from '../helpers/torture.js';

const mounted: string[] = [];
const spools: ReturnType<typeof tempSpool>[] = [];
after(async () => {
  for (const m of mounted) await run('umount', ['-l', m]);
  spools.forEach((s) => s.cleanup());
});

async function tmpfsSpool(size: string) {
  const s = tempSpool('outbox-disk-');
  spools.push(s);
  fs.mkdirSync(s.spool);
  const r = await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', s.spool]);
  assert.equal(r.code, 0, `mount: ${r.stderr}`);
  mounted.push(s.spool);
  return s;
}

const queue = async (env: Record<string, string>, rcpts: string[], subject: string) => {
  const r = await run(SENDMAIL, ['-odq', '-i', '-f', 'sender@example.com', ...rcpts], { input: `Subject: ${subject}\n\nbody of ${subject}\n`, env });
  assert.equal(r.code, 0, r.stderr);
};

test('disk full during a queue run: the runner goes on and reports; nothing lost, nothing corrupt', async () => {
  const s = await tmpfsSpool('256k');
  const rcpt: Record<string, string> = { 'bad@example.com': '550 5.1.1 No such user' };
  for (let i = 0; i < 4; i++) rcpt[`later${i}@example.com`] = '451 4.3.0 Try later';
  const relay = await startRelay({ faults: { rcpt } });
  try {
    const env = envFor(relay, s, { OUTBOX_LOG: 'stderr' });
    for (let i = 0; i < 4; i++) await queue(env, [`ok${i}@example.com`, `later${i}@example.com`], `m${i}`);
    await queue(env, ['bad@example.com'], 'bounce me');
    const before = controls(s.spool);
    // Fill the filesystem to the last block.
    const filler = path.join(s.spool, 'filler');
    const fd = fs.openSync(filler, 'w');
    const block = Buffer.alloc(4096);
    try {
      for (;;) fs.writeSync(fd, block);
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      fs.closeSync(fd);
    }
    let r = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
    assert.equal(r.signal, null);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    // Reported: one line per message whose update failed, and the bounce that could not be queued.
    assert.ok((r.stderr.match(/error: ENOSPC: no space left on device/g) ?? []).length >= 4, r.stderr);
    assert.match(r.stderr, /could not queue the bounce: ENOSPC/);
    // Every record is intact and unchanged (no update could be written; nothing was removed that
    // would have freed space), and no temp file is left half-written.
    assert.deepEqual(controls(s.spool), before);
    assert.deepEqual(fs.readdirSync(path.join(s.spool, 'tmp')), []);
    const firstRun = relay.received.flatMap((m) => m.rcptTo).sort();
    assert.deepEqual(firstRun, ['ok0@example.com', 'ok1@example.com', 'ok2@example.com', 'ok3@example.com']);

    // Space again, relay healthy: everything goes; the four "ok" recipients whose success could
    // not be recorded get a second copy (the documented at-least-once case), nobody else does.
    fs.unlinkSync(filler);
    relay.setFaults({});
    r = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(controls(s.spool), []);
    const all = relay.received.flatMap((m) => m.rcptTo);
    const count = (a: string) => all.filter((x) => x === a).length;
    for (let i = 0; i < 4; i++) {
      assert.equal(count(`ok${i}@example.com`), 2, `ok${i}: sent, not recorded, sent again`);
      assert.equal(count(`later${i}@example.com`), 1);
    }
    assert.equal(count('bad@example.com'), 1, 'delivered once the relay stopped refusing it');
    assert.equal(count('sender@example.com'), 0, 'no bounce: the 550 was never recorded');
    const q = await run(MAILQ, [], { env });
    assert.equal(q.stdout, 'Mail queue is empty\n');
  } finally {
    await relay.close();
  }
});

test('read-only spool: submit exits 73, the runner reports and delivers nothing; writable again: all delivered once', async () => {
  const s = await tmpfsSpool('1m');
  const relay = await startRelay({});
  try {
    const env = envFor(relay, s, { OUTBOX_LOG: 'stderr' });
    for (let i = 0; i < 3; i++) await queue(env, [`r${i}@example.com`], `ro${i}`);
    const before = controls(s.spool);
    assert.equal((await run('mount', ['-o', 'remount,ro', s.spool])).code, 0);
    let r = await run(SENDMAIL, ['-odq', '-i', 'x@example.com'], { input: 'Subject: refused\n\n', env });
    assert.equal(r.code, 73, r.stderr);
    assert.match(r.stderr, /^sendmail: cannot write to the spool: read-only file system/);
    r = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
    assert.equal(r.signal, null);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal((r.stderr.match(/EROFS: read-only file system/g) ?? []).length, 3, r.stderr);
    assert.equal(relay.received.length, 0, 'nothing is delivered that could not be recorded');
    assert.deepEqual(controls(s.spool), before);
    assert.equal((await run('mount', ['-o', 'remount,rw', s.spool])).code, 0);
    r = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(relay.received.flatMap((m) => m.rcptTo).sort(), ['r0@example.com', 'r1@example.com', 'r2@example.com']);
    assert.deepEqual(controls(s.spool), []);
  } finally {
    await relay.close();
  }
});
