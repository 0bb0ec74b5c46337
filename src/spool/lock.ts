/**
 * spool/lock.ts — the one way to lock a queued message (proper-lockfile, one set of options).
 *
 * Everything that changes or delivers a queued message (runner, queue management) takes this
 * lock first; mailq only looks at which locks exist (a `*` after the id). Locks are directories
 * lock/<ID>.lock whose mtime the holder refreshes; a lock not refreshed for `staleMs` belongs to
 * a dead process and is taken over (a runner killed with -9 blocks a message for at most that).
 */
import * as path from 'node:path';
import lockfile from 'proper-lockfile';
import type { SpoolPaths } from './spool.js';

export type Release = () => Promise<void>;

function options(p: SpoolPaths, id: string, staleMs: number) {
  return {
    realpath: false,
    lockfilePath: path.join(p.lock, `${id}.lock`),
    stale: Math.max(2000, staleMs),
    update: Math.max(1000, Math.floor(Math.max(2000, staleMs) / 3)),
    retries: 0,
    // A lock lost (its mtime could not be refreshed) is reported by the caller's next write.
    onCompromised: () => {},
  };
}

/** Try to lock message `id`; returns null when another live process holds it. */
export async function tryLock(p: SpoolPaths, id: string, staleMs: number): Promise<Release | null> {
  try {
    const release = await lockfile.lock(path.join(p.ctl, id), options(p, id, staleMs));
    return async () => {
      await release().catch(() => {});
    };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOCKED') return null;
    throw e;
  }
}

/** Ids whose lock directory exists: see spool.ts (kept there so mailq need not load the lock library). */
export { lockedIds } from './spool.js';
