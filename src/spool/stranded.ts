/**
 * spool/stranded.ts — tell a user, once, that their private spool was left behind.
 *
 * Before a system installation, an ordinary user's sendmail queues into a private spool
 * (~/.local/state/outbox, config/resolve.ts). Once /etc/outbox/outbox.conf exists, the same
 * user's sendmail and mailq use the system spool, and nothing looks at the private one again:
 * its messages would wait there for ever, silently. So when such a user runs sendmail or mailq
 * on the system spool and the private spool still holds messages, one line on stderr names
 * them and the command that moves them (`outbox migrate-spool`, commands/migrate-spool.ts).
 * Once: the note creates the marker file NOTICE_MARKER in the private spool (O_EXCL), and is
 * not shown while it exists.
 *
 * On the submit path: a stat or two, no imports beyond node's fs. Never throws (a note must
 * never change a submission's outcome).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Config, userSpoolDir } from '../config/resolve.js';

export const NOTICE_MARKER = 'system-spool-notice';

/** The note to print (once), or null. `uid` is the caller's. */
export function strandedSpoolNotice(config: Config, uid: number, env: NodeJS.ProcessEnv = process.env): string | null {
  if (!config.system || uid === 0) return null;
  try {
    const dir = userSpoolDir(env);
    if (!dir || path.resolve(dir) === path.resolve(config.spool)) return null;
    // Said once already: one stat, not a listing of the whole private queue on every call.
    if (fs.existsSync(path.join(dir, NOTICE_MARKER))) return null;
    const n = fs.readdirSync(path.join(dir, 'ctl')).length;
    if (n === 0) return null;
    fs.closeSync(
      fs.openSync(path.join(dir, NOTICE_MARKER), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600),
    );
    return `your private queue ${dir} still holds ${n} message${n === 1 ? '' : 's'}, which nothing delivers now that this machine has a system queue (${config.spool}); move them there with: outbox migrate-spool (this note is shown once)`;
  } catch {
    // No private spool (ENOENT), or the note was given already (EEXIST): nothing to say.
    return null;
  }
}
