/**
 * The dead-holder rule of spool/lock.ts with real processes: a lock whose holder was killed is
 * taken at once (even with a ten-minute staleness timeout); a live holder keeps it; an owner
 * record from another boot, or a pid now used by another process (other start time), is judged
 * as the header says.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSpool } from '../../../src/spool/spool.js';
import { tryLock } from '../../../src/spool/lock.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-lock-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const LOCK_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../src/spool/lock.js');
const TEN_MINUTES = 600_000;

/** A child process that takes the lock of `id`, says "locked", and then waits to be killed. */
async function holder(spool: string, id: string) {
  const code = `
    const { tryLock } = await import(${JSON.stringify(LOCK_JS)});
    const { ensureSpool } = await import(${JSON.stringify(LOCK_JS.replace(/lock\.js$/, 'spool.js'))});
    const r = await tryLock(ensureSpool(${JSON.stringify(spool)}), ${JSON.stringify(id)}, ${TEN_MINUTES});
    process.stdout.write(r ? 'locked\\n' : 'busy\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const said = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('holder did not start within 30 s')), 30_000);
    child.stdout.once('data', (d: Buffer) => {
      clearTimeout(timer);
      resolve(d.toString().trim());
    });
  });
  assert.equal(said, 'locked');
  return child;
}

test('a live holder keeps its lock; once it is killed with -9 the lock is free at once', async () => {
  const spool = path.join(dir, 's1');
  const p = ensureSpool(spool);
  const child = await holder(spool, 'AAAA');
  try {
    assert.equal(await tryLock(p, 'AAAA', TEN_MINUTES), null, 'held by a live process');
    const owner = JSON.parse(fs.readFileSync(path.join(p.lock, 'AAAA.owner'), 'utf8'));
    assert.equal(owner.pid, child.pid);
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
  }
  const release = await tryLock(p, 'AAAA', TEN_MINUTES);
  assert.ok(release, 'the dead holder`s lock is taken without waiting for staleness');
  assert.equal(JSON.parse(fs.readFileSync(path.join(p.lock, 'AAAA.owner'), 'utf8')).pid, process.pid);
  assert.equal(await tryLock(p, 'AAAA', TEN_MINUTES), null, 'now ours: others must wait');
  await release();
  assert.ok(!fs.existsSync(path.join(p.lock, 'AAAA.owner')), 'released: no owner record left');
  assert.ok(!fs.existsSync(path.join(p.lock, 'AAAA.lock')));
});

test('owner records that prove nothing leave the lock to the staleness timeout; a reused pid frees it', async () => {
  const p = ensureSpool(path.join(dir, 's2'));
  const child = await holder(path.join(dir, 's2'), 'BBBB');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('close', r));
  const file = path.join(p.lock, 'BBBB.owner');
  const real = JSON.parse(fs.readFileSync(file, 'utf8'));

  // Another boot (or host sharing the spool): cannot judge its pids.
  fs.writeFileSync(file, JSON.stringify({ ...real, boot: 'another-boot' }));
  assert.equal(await tryLock(p, 'BBBB', TEN_MINUTES), null);
  // Another pid namespace (a container sharing the spool): same.
  fs.writeFileSync(file, JSON.stringify({ ...real, pidns: 'pid:[1]' }));
  assert.equal(await tryLock(p, 'BBBB', TEN_MINUTES), null);
  // The lock directory was replaced since the record was written: the record is not its holder's.
  fs.writeFileSync(file, JSON.stringify({ ...real, btime: real.btime - 1 }));
  assert.equal(await tryLock(p, 'BBBB', TEN_MINUTES), null);
  // The recorded pid is alive but is another process (pid 1 started long before): a reused pid.
  fs.writeFileSync(file, JSON.stringify({ ...real, pid: 1, start: '999999999999' }));
  const release = await tryLock(p, 'BBBB', TEN_MINUTES);
  assert.ok(release, 'a pid now used by a process with another start time is not the holder');
  await release();
});
