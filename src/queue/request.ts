/**
 * queue/request.ts — the arguments of `outbox queue` read into a Request (through the one argument
 * table, cli/args.ts). Pure. Used by the command (commands/queue.ts) and by the queue daemon, which
 * parses a user's arguments the same way before it runs them for that uid only (queue/query.ts).
 */
import { isQueueId } from '../spool/format.js';
import { type Action, type Filter, type Request } from './manage.js';
import { parseDuration } from '../duration.js';
import { has, parseForm, subcommand, usageError, value, wantsHelp } from '../cli/args.js';

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
