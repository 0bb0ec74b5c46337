/**
 * spool/privileges.ts — run as the spool's owner. Whoever owns the system spool (the `outbox`
 * user that scripts/package/install.sh and the Debian package create) is the runner's identity: when
 * root starts a queue run, a pickup, a delivery or `outbox queue` on the system spool, the process gives up
 * root (supplementary groups, gid, then uid — in that order, because each step needs the
 * privilege the next one removes) before it touches the queue, so every file it creates is the
 * runner's and no delivery ever runs as root. The systemd units start it as User=outbox directly.
 * repairOwnership() gives back, as root, what root left in the queue before that rule.
 *
 * Throws OutboxError(EX_TEMPFAIL) when the drop fails (never continues as root by mistake).
 */
import * as fs from 'node:fs';
import type { Config } from '../config/config.js';
import { EX_TEMPFAIL, OutboxError } from '../sysexits.js';

export interface Identity {
  uid: number;
  gid: number;
}

/** Who the process must become: the spool owner when we are root on a system spool it owns. Pure. */
export function targetIdentity(myUid: number, system: boolean, spoolStat: Identity | null): Identity | null {
  if (myUid !== 0 || !system || !spoolStat || spoolStat.uid === 0) return null;
  return spoolStat;
}

/** Drop root for the spool's owner if that applies; returns the identity taken, or null. */
export function dropToSpoolOwner(config: Pick<Config, 'system' | 'spool'>): Identity | null {
  if (!process.getuid || !process.setuid || !process.setgid || !process.setgroups) return null;
  let st: fs.Stats | null = null;
  try {
    st = fs.statSync(config.spool);
  } catch {
    st = null;
  }
  const target = targetIdentity(process.getuid(), config.system, st ? { uid: st.uid, gid: st.gid } : null);
  if (!target) return null;
  try {
    process.setgroups([target.gid]);
    process.setgid(target.gid);
    process.setuid(target.uid);
  } catch (e) {
    throw new OutboxError(EX_TEMPFAIL, `cannot become the spool owner (uid ${target.uid}): ${(e as Error).message}`);
  }
  if (process.getuid() !== target.uid || process.geteuid!() !== target.uid || process.getgid!() !== target.gid) {
    throw new OutboxError(EX_TEMPFAIL, `still running as uid ${process.getuid()} after dropping privileges`);
  }
  return target;
}

/**
 * Give back to the spool's owner what root left in the queue: a record written as root (by an
 * older `outbox queue` run as root, or by hand) is root:root 0600, which the runner cannot read,
 * so the message would never be delivered. Root only, before dropToSpoolOwner(); lchown never
 * follows a link. Returns the entries repaired ("ctl/ID"), for the log.
 */
export function repairOwnership(config: Pick<Config, 'system' | 'spool'>): string[] {
  if (!config.system || process.getuid?.() !== 0) return [];
  let owner: fs.Stats;
  try {
    owner = fs.statSync(config.spool);
  } catch {
    return [];
  }
  if (owner.uid === 0) return [];
  const repaired: string[] = [];
  for (const dir of ['ctl', 'msg', 'tmp', 'lock']) {
    let names: string[];
    try {
      names = fs.readdirSync(`${config.spool}/${dir}`);
    } catch {
      continue;
    }
    for (const name of names) {
      const file = `${config.spool}/${dir}/${name}`;
      try {
        const st = fs.lstatSync(file);
        if ((!st.isFile() && !st.isDirectory()) || (st.uid === owner.uid && st.gid === owner.gid)) continue;
        fs.lchownSync(file, owner.uid, owner.gid);
        repaired.push(`${dir}/${name}`);
      } catch {
        // gone meanwhile
      }
    }
  }
  return repaired;
}
