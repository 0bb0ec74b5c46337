/**
 * spool/lock.ts — the one way to lock a queued message (proper-lockfile, one set of options),
 * and the rule that frees at once a lock whose holder is provably dead.
 *
 * Everything that changes or delivers a queued message (runner, queue management, pickup) takes
 * this lock first; mailq only looks at which locks exist (a `*` after the id). Locks are
 * directories lock/<ID>.lock whose mtime the holder refreshes; a lock not refreshed for `staleMs`
 * is taken over (the holder is alive but stuck, or on another host sharing the spool).
 *
 * Dead holders: beside each lock the holder writes lock/<ID>.owner, one JSON line
 *   {"v":1,"boot":<boot id>,"pidns":<pid namespace>,"pid":N,"start":<start time in ticks>,
 *    "ino":<inode of the lock directory>,"btime":<its birth time, ms>}
 * A process that finds the message locked reads it. When the holder ran under the same kernel
 * boot and pid namespace, and its pid is gone (kill(pid, 0) says ESRCH), is a zombie, or now
 * belongs to a process with another start time (a reused pid), the holder is dead and the lock
 * is freed at once instead of after `staleMs` — as the kernel frees Postfix's locks when a
 * process dies. Anything we cannot prove (another host or container, /proc unreadable, no
 * owner file yet) leaves the lock to the staleness timeout.
 *
 * Takeover is serialised by mkdir lock/<ID>.takeover: the taker re-reads the owner file under
 * it and removes the lock only if the owner and the lock directory (inode + birth time) are
 * still the dead ones it judged, so a lock just taken by a live process is never removed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import lockfile from 'proper-lockfile';
import type { SpoolPaths } from './spool.js';

export type Release = () => Promise<void>;

/** A takeover directory older than this belongs to a taker that died mid-takeover. */
const TAKEOVER_STALE_MS = 10_000;

function lockDir(p: SpoolPaths, id: string): string {
  return path.join(p.lock, `${id}.lock`);
}

function ownerFile(p: SpoolPaths, id: string): string {
  return path.join(p.lock, `${id}.owner`);
}

function options(p: SpoolPaths, id: string, staleMs: number) {
  return {
    realpath: false,
    lockfilePath: lockDir(p, id),
    stale: Math.max(2000, staleMs),
    update: Math.max(1000, Math.floor(Math.max(2000, staleMs) / 3)),
    retries: 0,
    // A lock lost (its mtime could not be refreshed) is reported by the caller's next write.
    onCompromised: () => {},
  };
}

interface Owner {
  v: 1;
  boot: string;
  pidns: string;
  pid: number;
  start: string;
  ino: string;
  btime: number;
}

/** This kernel boot and pid namespace; null where /proc does not tell (then no takeover). */
let selfCache: { boot: string; pidns: string; start: string } | null | undefined;
function self(): { boot: string; pidns: string; start: string } | null {
  if (selfCache !== undefined) return selfCache;
  try {
    const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const pidns = fs.readlinkSync('/proc/self/ns/pid');
    const st = procStat(process.pid);
    selfCache = st ? { boot, pidns, start: st.start } : null;
  } catch {
    selfCache = null;
  }
  return selfCache;
}

/** State and start time (field 22, clock ticks after boot) of a process, from /proc/PID/stat. */
function procStat(pid: number): { state: string; start: string } | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // "pid (comm) state ..." — comm may hold spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const start = rest[19];
  return state && start ? { state, start } : null;
}

function readOwner(file: string): Owner | null {
  try {
    const o = JSON.parse(fs.readFileSync(file, 'utf8')) as Owner;
    return o && o.v === 1 && Number.isInteger(o.pid) && o.pid > 0 ? o : null;
  } catch {
    return null;
  }
}

function dirIdentity(dir: string): { ino: string; btime: number } | null {
  try {
    const st = fs.statSync(dir, { bigint: true });
    return { ino: String(st.ino), btime: Number(st.birthtimeMs) };
  } catch {
    return null;
  }
}

/** Record this process as the holder of a lock it has just taken (best effort). */
function writeOwner(p: SpoolPaths, id: string): void {
  const me = self();
  const dir = dirIdentity(lockDir(p, id));
  if (!me || !dir) return;
  const owner: Owner = { v: 1, ...me, pid: process.pid, ...dir };
  const tmp = path.join(p.lock, `.${id}.owner.${process.pid}`);
  try {
    fs.writeFileSync(tmp, JSON.stringify(owner) + '\n', { mode: 0o600 });
    fs.renameSync(tmp, ownerFile(p, id));
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}

/** True only when the recorded holder is provably dead (see the header). */
function holderIsDead(o: Owner): boolean {
  const me = self();
  if (!me || o.boot !== me.boot || o.pidns !== me.pidns) return false;
  if (o.pid === process.pid) return false;
  try {
    process.kill(o.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return true;
    // EPERM: the pid exists under another user; judge it by its start time below.
  }
  const st = procStat(o.pid);
  if (!st) return false; // exists, but /proc does not show it (hidepid): cannot prove anything
  return st.state === 'Z' || st.start !== o.start;
}

/** Free the lock of message `id` if its holder is provably dead; true when it was freed. */
function freeIfHolderDead(p: SpoolPaths, id: string): boolean {
  const judged = readOwner(ownerFile(p, id));
  if (!judged || !holderIsDead(judged)) return false;
  const takeover = path.join(p.lock, `${id}.takeover`);
  try {
    fs.mkdirSync(takeover, { mode: 0o700 });
  } catch {
    // Another process is taking over (or died doing so: clear its leftover for the next try).
    try {
      if (Date.now() - fs.statSync(takeover).mtimeMs > TAKEOVER_STALE_MS) fs.rmdirSync(takeover);
    } catch {
      // gone already
    }
    return false;
  }
  try {
    const now = readOwner(ownerFile(p, id));
    const dir = dirIdentity(lockDir(p, id));
    const same = now !== null && dir !== null && now.pid === judged.pid && now.start === judged.start && now.ino === dir.ino && now.btime === dir.btime;
    if (!same) return false;
    fs.rmSync(ownerFile(p, id), { force: true });
    fs.rmdirSync(lockDir(p, id));
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(takeover, { recursive: true, force: true });
  }
}

/** Try to lock message `id`; returns null when another live process holds it. */
export async function tryLock(p: SpoolPaths, id: string, staleMs: number): Promise<Release | null> {
  const attempt = async (): Promise<Release | null> => {
    try {
      const release = await lockfile.lock(path.join(p.ctl, id), options(p, id, staleMs));
      writeOwner(p, id);
      return async () => {
        // The owner record goes first: a lock directory without one is judged by age only.
        fs.rmSync(ownerFile(p, id), { force: true });
        await release().catch(() => {});
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ELOCKED') return null;
      throw e;
    }
  };
  const first = await attempt();
  if (first || !freeIfHolderDead(p, id)) return first;
  return attempt();
}

/** Ids whose lock directory exists: see spool.ts (kept there so mailq need not load the lock library). */
export { lockedIds } from './spool.js';
