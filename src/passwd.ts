/**
 * passwd.ts — one reader of /etc/passwd (a uid's login name and GECOS field) and /etc/group (a
 * gid's name). Used for the From: header's full name (only when the message has no From:), for
 * the submitter's name that pickup records from a drop file's owner, and for the group named in
 * a secret file's fix; and the calling user (currentUser). loginName() is the plain login name
 * recorded for a uid (pickup, the query server). Pure apart from one file read.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

export interface PasswdEntry {
  name: string;
  gecos: string;
}

/** The first /etc/passwd entry for `uid`, or null (no entry, or no passwd file as in some containers). */
export function passwdEntry(uid: number): PasswdEntry | null {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && f[2] !== '' && Number(f[2]) === uid) return { name: f[0]!, gecos: f[4] ?? '' };
    }
  } catch {
    // No passwd file.
  }
  return null;
}

/** The name of group `gid` from /etc/group, or the number as text when it has no entry. */
export function groupName(gid: number): string {
  try {
    for (const line of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && f[2] !== '' && Number(f[2]) === gid) return f[0]!;
    }
  } catch {
    // No group file.
  }
  return String(gid);
}

/** The calling user: uid and login name (getpwuid, then $LOGNAME/$USER, then uid<N>). */
export function currentUser(): { uid: number; name: string } {
  const uid = process.getuid ? process.getuid() : 0;
  try {
    return { uid, name: os.userInfo().username };
  } catch {
    const env = process.env.LOGNAME || process.env.USER;
    return { uid, name: env && /^[A-Za-z0-9._-]+$/.test(env) ? env : `uid${uid}` };
  }
}

/** Login name for a uid, from /etc/passwd; `uid<N>` when there is none (or it is not a plain name). */
export function loginName(uid: number): string {
  const name = passwdEntry(uid)?.name;
  return name && /^[A-Za-z0-9._-]+\$?$/.test(name) ? name : `uid${uid}`;
}
