/**
 * queue/access.ts — who may see which queued message, and who has to ask the queue daemon.
 *
 * Root and the spool's owner (the runner) see every message; on the system spool anyone else sees
 * only the messages submitted with their uid (visibleTo). Such a user usually cannot read the
 * queue at all (the privilege split makes ctl/ 0700), so their `mailq`, `outbox queue` and
 * `sendmail -q` ask the daemon instead (mustAskDaemon), which answers for the proven uid only.
 *
 * The direction: the commands decide here, then either work on the spool (queue/mailq.ts,
 * queue/manage.ts) or ask through queue/query-client.ts; the daemon's side (queue/query.ts)
 * calls the same mailq.ts and manage.ts functions. Neither mailq.ts nor manage.ts's operations
 * import the query modules, so asking and answering form no circle.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config/config.js';
import type { ControlRecord } from '../spool/format.js';
import { spoolOwner } from '../spool/spool.js';

/** Who may see a message: root and the spool owner (the runner) see all; others only their own (system spool). */
export function visibleTo(rec: Pick<ControlRecord, 'uid'>, uid: number, config: Config, owner?: number | null): boolean {
  if (!config.system || uid === 0 || rec.uid === uid) return true;
  // The spool's owner is looked up (a stat) only for someone else's message, when not given.
  return uid === (owner === undefined ? spoolOwner(config.spool) : owner);
}

/**
 * Does `uid` have to ask the daemon? On the system spool, when it is neither root nor the spool's
 * owner and cannot read the control records itself (the privilege split makes ctl/ 0700).
 * Where it can read them, it works directly, and visibleTo() still limits it to its own messages.
 */
export function mustAskDaemon(config: Config, uid: number): boolean {
  const owner = spoolOwner(config.spool);
  if (!config.system || uid === 0 || owner === null || uid === owner) return false;
  try {
    fs.accessSync(path.join(config.spool, 'ctl'), fs.constants.R_OK | fs.constants.X_OK);
    return false;
  } catch {
    return true;
  }
}
