/**
 * passwd.ts — one reader of /etc/passwd: a uid's login name and GECOS field.
 * Used for the From: header's full name (only when the message has no From:) and for the
 * submitter's name that pickup records from a drop file's owner. Pure apart from one file read.
 */
import * as fs from 'node:fs';

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
