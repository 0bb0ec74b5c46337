/**
 * commands/queue.ts — `outbox queue hold|release|requeue|delete|show ...`: the command's
 * arguments (queue/request.ts reads them) and where it runs. The operations, their
 * output and exit statuses are queue/manage.ts's.
 *
 * A user who cannot read the system spool asks the daemon (queue/query-client.ts), which parses
 * the same arguments with parseQueueArgs and runs the request for that uid only (queue/query.ts).
 * Root changes the system spool as its owner (spool/privileges.ts).
 */
import type { Io } from '../io.js';
import { EX_OK } from '../sysexits.js';
import { runQueueCommand } from '../queue/manage.js';
import { parseQueueArgs } from '../queue/request.js';
import { isTerminal } from '../queue/terminal.js';

/** `outbox queue ...` (src/commands/outbox.ts). */
export async function command(args: string[], io: Io): Promise<number> {
  const req = parseQueueArgs(args);
  if (req.kind === 'help') {
    const { commandUsage } = await import('../cli/usage.js');
    io.stdout.write(commandUsage('queue') + '\n');
    return EX_OK;
  }
  const { loadConfig } = await import('../config/config.js');
  const { currentUser } = await import('../passwd.js');
  const config = loadConfig({ file: req.configFile });
  const user = currentUser();
  // A user who cannot read the system spool asks the daemon, which runs the command for that
  // uid only (src/queue/query.ts): users manage their own messages without any privilege.
  const { mustAskDaemon } = await import('../queue/access.js');
  if (mustAskDaemon(config, user.uid)) {
    const { framedViaDaemon } = await import('../queue/query-client.js');
    // The daemon takes its client for a terminal; say so when ours is not (show escapes for one).
    const raw = req.kind === 'show' && !req.raw && !isTerminal(io.stdout) ? ['--raw'] : [];
    return framedViaDaemon(config, 'queue', [...args, ...raw], io, 'outbox queue');
  }
  // Root changes the system spool as its owner, so that no record becomes root's (which the
  // runner could no longer read). The caller's uid, taken above, still decides what it may see.
  const { dropToSpoolOwner } = await import('../spool/privileges.js');
  dropToSpoolOwner(config);
  return runQueueCommand(req, config, io, { uid: user.uid, user: user.name });
}
