/**
 * commands/pickup.ts — `outbox pickup [-C FILE] [-v]`: move what submitters dropped into
 * the system spool's incoming/ into the queue, once (spool/pickup.ts), as the spool's owner
 * (root drops to it first: spool/privileges.ts). Queue runs and the daemon do the same at the
 * start of every run; this command is for the timer, for scripts and for tests.
 * Log lines go to stderr (`outbox/pickup[PID]: ID: ...`). Exit 0 when the pass completed (refused
 * entries are logged, not errors); 64 on a usage error; 75 when the pass itself failed.
 */
import type { Io } from '../io.js';
import { loadConfig } from '../config/config.js';
import { has, parseForm } from '../cli/args.js';
import { EX_OK } from '../sysexits.js';
import { spoolPaths } from '../spool/spool.js';
import { pickupIncoming } from '../spool/pickup.js';
import { dropToSpoolOwner } from '../spool/privileges.js';
import { openLog, type LineLog } from '../log/log.js';

export async function command(args: string[], io: Io): Promise<number> {
  const p = parseForm('pickup', args);
  const verbose = has(p, 'v');
  const config = loadConfig({ file: p.configFile });
  dropToSpoolOwner(config);
  const log: LineLog = openLog({ env: { OUTBOX_LOG: 'stderr' }, verbose, stderr: io.stderr, tag: 'outbox/pickup' });
  const r = await pickupIncoming(spoolPaths(config.spool), config, log);
  if (verbose) io.stderr.write(`pickup: ${r.queued.length} queued, ${r.refused} refused, ${r.swept} removed${r.waiting ? `, ${r.waiting} waiting` : ''}\n`);
  return EX_OK;
}
