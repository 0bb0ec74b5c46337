/**
 * config/secret-file.ts — may a file that holds a secret be read by others? The one permission
 * rule, for a configuration file with an inline password (config/file.ts) and for the password
 * and client secret files (config/credentials.ts); OAuth token files, which Outbox writes itself,
 * are checked in config/oauth.ts. Pure, except currentGids (this process).
 */

/**
 * What is wrong with a secret-holding file's permissions, or null (owner/group rules in README).
 * The fix named is one that leaves the file readable by the user that delivers mail (`runner`,
 * when known): `chmod 600` for a file it owns; for a file someone else owns (root:outbox, as the
 * README's privilege table recommends), its group must be the runner's and the mode 640.
 */
export function secretFileProblem(
  st: { mode: number; gid: number; uid?: number },
  runnerGids: number[],
  runner?: { uid: number; group: string },
): string | null {
  const mode = st.mode & 0o777;
  const octal = mode.toString(8).padStart(4, '0');
  const groupOk = runnerGids.includes(st.gid);
  const ownedByRunner = !runner || st.uid === undefined || st.uid === runner.uid;
  const fix = ownedByRunner ? 'chmod 600 FILE' : groupOk ? 'chmod 640 FILE' : `chgrp ${runner.group} FILE && chmod 640 FILE`;
  if (mode & 0o007) return `is readable or writable by others (mode ${octal}); fix with: ${fix}`;
  if (mode & 0o070 && !groupOk) {
    return `is accessible to its group (gid ${st.gid}, mode ${octal}), which is not the group of the user that delivers mail; fix with: ${fix}${ownedByRunner ? ' (or chgrp it to that group)' : ''}`;
  }
  return null;
}

/** The groups of the current process (the runner's when the runner checks). */
export function currentGids(): number[] {
  const g = new Set<number>();
  if (process.getgid) g.add(process.getgid());
  if (process.getegid) g.add(process.getegid());
  if (process.getgroups) for (const x of process.getgroups()) g.add(x);
  return [...g];
}
