/**
 * commands/queue.ts — `outbox queue hold|release|requeue|delete|show ...`: the command's
 * arguments (through the one table, commands/args.ts) and where it runs. The operations, their
 * output and exit statuses are queue/manage.ts's.
 *
 * A user who cannot read the system spool asks the daemon (queue/query-client.ts), which parses
 * the same arguments with parseQueueArgs and runs the request for that uid only (queue/query.ts).
 * Root changes the system spool as its owner (spool/privileges.ts).
 */
import type { Io } from '../io.js';
import { EX_OK } from '../sysexits.js';
import { isQueueId } from '../spool/format.js';
import { type Action, type Filter, type Request, runQueueCommand } from '../queue/manage.js';
import { isTerminal } from '../queue/terminal.js';
import { parseDuration } from '../duration.js';
import { has, parseForm, subcommand, usageError, value, wantsHelp } from './args.js';

/** Parse the arguments after `outbox queue`. Pure; throws OutboxError(EX_USAGE). */
export function parseQueueArgs(args: string[]): Request | { kind: 'help' } {
  if (wantsHelp(args) || args[0] === 'help') return { kind: 'help' };
  const { form, rest } = subcommand('queue', args);
  const p = parseForm(form, rest);
  // `ALL` (postsuper's spelling) is --all; any other operand is a queue id, in either case.
  const all = form !== 'queue show' && (has(p, 'all') || p.operands.includes('ALL'));
  const ids: string[] = [];
  for (const a of p.operands) {
    if (a === 'ALL' && form !== 'queue show') continue;
    if (!isQueueId(a.toUpperCase())) throw usageError(form, `${JSON.stringify(a)}: not a queue id (12 characters, as mailq shows them)`);
    ids.push(a.toUpperCase());
  }
  if (form === 'queue show') {
    return { kind: 'show', configFile: p.configFile, id: ids[0]!, body: !has(p, 'no-body'), json: has(p, 'json'), raw: has(p, 'raw') };
  }
  const age = value(p, 'older-than');
  const olderThanMs = age === undefined ? 0 : parseDuration(age);
  if (olderThanMs === null) throw usageError(form, `--older-than ${age}: expected a duration like 90s, 15m, 1h30m, 7d or 2w`);
  const filter: Filter = {
    senders: [...(p.values.get('sender') ?? [])],
    recipients: [...(p.values.get('recipient') ?? [])],
    held: has(p, 'held'),
    deferred: has(p, 'deferred'),
    olderThanMs,
  };
  const filtered = ['sender', 'recipient', 'held', 'deferred', 'older-than'].some((o) => has(p, o));
  const kinds = (ids.length > 0 ? 1 : 0) + (all ? 1 : 0) + (filtered ? 1 : 0);
  if (kinds === 0) throw usageError(form, 'name queue ids, --all, or a filter');
  if (kinds > 1) throw usageError(form, 'give either queue ids, --all, or filters, not several');
  return { kind: 'change', action: form.slice('queue '.length) as Action, configFile: p.configFile, ids, all, filter };
}

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
