/**
 * End to end: scripts/package/mkspool.sh (run as root by install.sh and the .deb postinst) never follows
 * a symbolic link that the spool owner planted (issue 11 M5): neither one planted beforehand nor
 * one swapped in while mkspool runs. The "victim" is a root-only directory outside the spool; a
 * compromised spool owner wants root to chown/chmod it. Needs root (CI runs as root).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO, run, sleep } from '../helpers/run.js';
import { ensureUser, removeUsers, requireRoot, type TestUser } from '../helpers/users.js';

const MKSPOOL = path.join(REPO, 'scripts/package/mkspool.sh');
const USERS = ['obx-mrun'];
let owner: TestUser;
let dir: string;

before(() => {
  requireRoot();
  owner = ensureUser(USERS[0]!);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-mkspool-'));
  fs.chmodSync(dir, 0o755);
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  removeUsers(USERS);
});

function victim(name: string): string {
  const v = path.join(dir, name);
  fs.mkdirSync(v, { mode: 0o700 });
  fs.chmodSync(v, 0o700);
  return v;
}

const ownerAndMode = (p: string) => {
  const st = fs.lstatSync(p);
  return { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 };
};

test('a symlink planted where a queue directory belongs is refused, its target untouched', async () => {
  const spool = path.join(dir, 'planted');
  execFileSync('sh', [MKSPOOL, spool, owner.name, owner.name]);
  const v = victim('victim-planted');
  // The owner (who may write in the spool) replaces msg/ by a symlink to a root-only directory.
  fs.rmdirSync(path.join(spool, 'msg'));
  fs.symlinkSync(v, path.join(spool, 'msg'));
  const r = await run('sh', [MKSPOOL, spool, owner.name, owner.name]);
  assert.equal(r.code, 73, r.stderr);
  assert.match(r.stderr, /msg is a symbolic link; refusing/);
  assert.deepEqual(ownerAndMode(v), { uid: 0, gid: 0, mode: 0o700 });
});

test('a directory swapped for a symlink while mkspool runs: the target is never changed (100 runs against a swapping loop)', async (t) => {
  const spool = path.join(dir, 'race');
  execFileSync('sh', [MKSPOOL, spool, owner.name, owner.name]);
  const v = victim('victim-race');
  const stop = path.join(dir, 'stop-race');
  // The attacker, as the spool owner: swaps msg/ and a symlink to the victim as fast as it can
  // (bounded: it stops on the stop file or after 120 s).
  const attack = `
    const fs = require('fs'); const [spool, victim, stop] = process.argv.slice(1);
    const m = spool + '/msg', real = spool + '/msg.real', link = spool + '/msg.link';
    try { fs.symlinkSync(victim, link); } catch {}
    const end = Date.now() + 120000; let i = 0;
    while (Date.now() < end) {
      if (++i % 500 === 0 && fs.existsSync(stop)) break;
      try { fs.renameSync(m, real); } catch {}
      try { fs.renameSync(link, m); } catch {}
      try { fs.renameSync(m, link); } catch {}
      try { fs.renameSync(real, m); } catch {}
    }`;
  const attacker = spawn('setpriv', ['--reuid', owner.name, '--regid', owner.name, '--init-groups', process.execPath, '-e', attack, spool, v, stop], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((r) => attacker.on('close', () => r()));
  try {
    await sleep(200);
    const codes = new Map<number | null, number>();
    for (let i = 0; i < 100; i++) {
      const r = await run('sh', [MKSPOOL, spool, owner.name, owner.name], { timeoutMs: 30_000 });
      codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
      assert.deepEqual(ownerAndMode(v), { uid: 0, gid: 0, mode: 0o700 }, `run ${i}: mkspool changed the symlink's target (${r.stderr.trim()})`);
    }
    t.diagnostic(`mkspool exit codes over 100 runs under attack: ${JSON.stringify([...codes])}`);
  } finally {
    fs.writeFileSync(stop, '');
    await Promise.race([exited, sleep(10_000)]);
    attacker.kill('SIGKILL');
  }
});
