/**
 * spool/pidfile.ts — run/daemon.pid, the one owner of the fact "a runner is watching this
 * spool": the queue daemon (`-bd`, `-q15m`) and the lingering runner that a background kick
 * starts (runner/daemon.ts) claim it; submitters read it (submit/kick.ts) and start no delivery
 * of their own while it names a live runner, because that runner's watch on ctl/ sees their
 * commit.
 *
 * The file holds the pid and a newline, replaced atomically (temp file + rename). A pid file
 * left by a crash or a reboot may name an unrelated process: it counts only while the process
 * is alive and (where /proc tells) runs this same program.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spoolPaths } from './spool.js';

function pidFile(runDir: string): string {
  return path.join(runDir, 'daemon.pid');
}

/** Does `pid` run this program? Without /proc (or for another user's process) assume it does. */
function isOurProgram(pid: number): boolean {
  try {
    if (fs.readlinkSync(`/proc/${pid}/exe`) !== fs.realpathSync(process.execPath)) return false;
    // The slim variant runs on the system's node, as other programs may: its script tells.
    const slim = (globalThis as { __outboxSlim?: string }).__outboxSlim;
    return (
      !slim ||
      fs
        .readFileSync(`/proc/${pid}/cmdline`, 'latin1')
        .split('\0')
        .includes(path.join(path.dirname(slim), 'slim.cjs'))
    );
  } catch {
    return true;
  }
}

/**
 * The live runner named by run/daemon.pid: its pid, -1 when it is alive but another user's
 * (the system daemon seen by a submitter), or null when there is none.
 */
function runningDaemon(runDir: string): number | null {
  try {
    const pid = Number(fs.readFileSync(pidFile(runDir), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return null;
    process.kill(pid, 0);
    return isOurProgram(pid) ? pid : null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EPERM') return -1;
    return null;
  }
}

/** runningDaemon() of the spool at `spool` (its root directory): what submitters and the listener ask. */
export function runnerWatching(spool: string): number | null {
  return runningDaemon(spoolPaths(spool).run);
}

/**
 * Claim run/daemon.pid for this process; returns the other runner's pid instead when one is alive.
 * Looking and writing happen under run/daemon.pid.lock (a directory: mkdir is atomic), held for
 * microseconds, so two runners started at the same moment (two kicks at once) cannot both find
 * no runner and both claim the file. A lock left by a process killed inside it is taken over
 * after LOCK_STALE_MS.
 */
export function claimPidFile(runDir: string): number | null {
  const lock = `${pidFile(runDir)}.lock`;
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      fs.mkdirSync(lock, { mode: 0o700 });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - fs.statSync(lock).mtimeMs > LOCK_STALE_MS) fs.rmdirSync(lock);
      } catch {
        // taken over or released meanwhile
      }
      if (Date.now() > deadline) throw new Error(`${lock}: held for more than 5 s`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    }
  }
  try {
    const other = runningDaemon(runDir);
    if (other !== null && other !== process.pid) return other;
    const file = pidFile(runDir);
    const tmp = `${file}.${process.pid}`;
    fs.writeFileSync(tmp, `${process.pid}\n`, { mode: 0o644 });
    fs.renameSync(tmp, file);
    return null;
  } finally {
    fs.rmdirSync(lock);
  }
}

/** A claim lock older than this was left by a process killed while claiming. */
const LOCK_STALE_MS = 2000;

/** Give run/daemon.pid up (only if it still names this process). */
export function releasePidFile(runDir: string): void {
  const file = pidFile(runDir);
  try {
    if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.unlinkSync(file);
  } catch {
    // gone already
  }
}
