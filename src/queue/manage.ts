/**
 * queue/manage.ts — the operations of `outbox queue ...` (its arguments: commands/queue.ts):
 * queue management, like Postfix's postsuper/postcat.
 *
 *   outbox queue hold    [-C FILE] (ID... | --all | FILTER...)   never deliver until released
 *   outbox queue release [-C FILE] (ID... | --all | FILTER...)   undo hold (due at its next attempt)
 *   outbox queue requeue [-C FILE] (ID... | --all | FILTER...)   due now: reset the retry schedule
 *   outbox queue delete  [-C FILE] (ID... | --all | FILTER...)   remove without a bounce
 *   outbox queue show    [-C FILE] [--no-body | --json] [--raw] ID   envelope, state, history, content
 *
 * show on a terminal makes control characters visible (queue/terminal.ts: a message could
 * otherwise drive root's terminal); --raw, or output that is not a terminal, gets the exact bytes.
 *
 * FILTER (all given must match; each may repeat, any value of one kind matches):
 *   --sender=TEXT      envelope sender contains TEXT (case-blind; '<>' for the null sender)
 *   --recipient=TEXT   a pending recipient contains TEXT (case-blind)
 *   --held | --deferred   on hold / tried at least once
 *   --older-than=AGE   arrived more than AGE ago (30s, 15m, 12h, 7d)
 *
 * Every change goes through the one lock (spool/lock.ts tryLock) and the one durable write
 * (spool/spool.ts writeControl / removeMessage), after re-reading the record under the lock:
 * a runner that delivered the message in the meantime wins, and a message being delivered is
 * never changed under it (it is reported as locked instead).
 *
 * Who may do what: root, and every user of a per-user spool, manage everything; a non-root user
 * of the system spool manages only the messages submitted with their uid (access.ts visibleTo).
 * Root works on the system spool as its owner (spool/privileges.ts), so that no record becomes
 * root's; a user who cannot read the queue asks the daemon (query-client.ts).
 * Selections (--all, filters) silently cover only the messages the caller may see.
 *
 * Exit status (the first failure's, after trying every named message; one line per failure on
 * stderr, one line per changed message on stdout):
 *   0  done (also: nothing matched a filter, or a message already was in the wanted state)
 *   64 EX_USAGE    bad arguments, or an id that is not a queue id
 *   65 EX_DATAERR  the control record is unreadable (corrupt, or from a newer version)
 *   67 EX_NOUSER   no such message in the queue (never queued, or delivered/removed already)
 *   75 EX_TEMPFAIL the message is locked (being delivered): try again
 *   77 EX_NOPERM   another user's message, or the spool is not writable for this user
 * Next: mailq.ts (the listing), runner/ (what hold and nextAttempt mean to a queue run).
 */
import { problemOf, withFix } from './problems.js';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { Io } from '../io.js';
import type { Config } from '../config/config.js';
import { EX_DATAERR, EX_NOPERM, EX_NOUSER, EX_OK, EX_TEMPFAIL, OutboxError } from '../sysexits.js';
import { type ControlRecord, ControlFormatError, pendingRecipients, withHistory } from '../spool/format.js';
import { type SpoolPaths, listIds, messagePath, readControl, removeMessage, spoolPaths, writeControl } from '../spool/spool.js';
import { lockedIds, tryLock } from '../spool/lock.js';
import { arrivalTime } from './mailq.js';
import { visibleTo } from './access.js';
import { escapeControls, escapeJsonControls, isTerminal } from './terminal.js';
import { type QueueFilter, matchesFilter } from './filter.js';
import { StringDecoder } from 'node:string_decoder';

export type Action = 'hold' | 'release' | 'requeue' | 'delete';

/** An `outbox queue` filter: queue/filter.ts's, every condition given (ids are named apart). */
export type Filter = Required<Omit<QueueFilter, 'ids'>>;

/** A parsed `outbox queue` request (commands/queue.ts parses the arguments). */
export type Request =
  | { kind: 'change'; action: Action; configFile?: string | undefined; ids: string[]; all: boolean; filter: Filter }
  | { kind: 'show'; configFile?: string | undefined; id: string; body: boolean; json: boolean; raw: boolean };

/**
 * The record after hold/release/requeue, or null when it already is in that state. Pure.
 * requeue: due now (nextAttempt 0); the attempt count and arrival stay, so the maximum age still
 * bounds how long a message is retried. `who` goes into the history entry.
 */
export function applyChange(rec: ControlRecord, action: Exclude<Action, 'delete'>, who: string, now: number): ControlRecord | null {
  const entry = (event: string) => ({ time: now, event, detail: `by ${who}` });
  switch (action) {
    case 'hold':
      return rec.hold ? null : withHistory({ ...rec, hold: true }, entry('held'));
    case 'release':
      return rec.hold ? withHistory({ ...rec, hold: false }, entry('released')) : null;
    case 'requeue':
      return withHistory({ ...rec, nextAttempt: 0 }, entry('requeued'));
  }
}

const PAST: Record<Action, string> = { hold: 'held', release: 'released', requeue: 'requeued', delete: 'deleted' };

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `outbox queue show` without the content: envelope, state and history. Pure. */
export function formatShow(rec: ControlRecord, active: boolean, now: number): string {
  const pending = pendingRecipients(rec).length;
  const problem = problemOf(rec);
  const byRoute = problem?.kind === 'held' && problem.cause.startsWith('held by route ');
  let state = rec.hold
    ? 'on hold'
    : active
      ? 'being delivered'
      : byRoute
        ? problem.cause
        : problem?.kind === 'held'
          ? `held: ${withFix(problem.cause, problem.fix)}`
          : rec.attempts > 0
            ? 'deferred'
            : 'queued';
  if (!rec.hold && !active && !byRoute && pending > 0) {
    state += rec.nextAttempt > now ? `, next attempt ${iso(rec.nextAttempt)}` : ', due now';
  }
  const lines = [
    `Queue ID:    ${rec.id}`,
    `State:       ${state}; ${rec.attempts} attempt${rec.attempts === 1 ? '' : 's'}; ${pending} of ${rec.recipients.length} recipient${rec.recipients.length === 1 ? '' : 's'} pending`,
    `Arrival:     ${iso(rec.arrival)} (${arrivalTime(rec.arrival)}, local time)`,
    `Submitted:   uid ${rec.uid}${rec.user ? ` (${rec.user})` : ''} via ${rec.origin}${rec.client ? ` from ${rec.client}` : ''}`,
    `Sender:      <${rec.sender}>`,
    `Size:        ${rec.size} bytes, ${rec.body}${rec.smtputf8 ? ', SMTPUTF8' : ''}${rec.ret ? `, RET=${rec.ret}` : ''}${rec.envid ? `, ENVID=${rec.envid}` : ''}`,
  ];
  if (rec.lastError) lines.push(`Last error:  ${rec.lastError}`);
  lines.push('Recipients:');
  for (const r of rec.recipients) {
    const extra = [r.dsn, r.reason !== undefined ? withFix(r.reason, r.fix) : undefined, r.relay ? `relay ${r.relay}` : undefined].filter(Boolean).join(' ');
    lines.push(`  <${r.address}> ${r.status}${extra ? `: ${extra}` : ''}`);
  }
  lines.push('History:');
  for (const h of rec.history) lines.push(`  ${iso(h.time)} ${h.event}${h.detail ? ` ${h.detail}` : ''}`);
  return lines.join('\n') + '\n';
}

class Failure {
  constructor(
    readonly code: number,
    readonly line: string,
  ) {}
}

/** Read a record for a change or show; a Failure when missing, unreadable or not the caller's. */
async function readFor(p: SpoolPaths, id: string, uid: number, config: Config): Promise<ControlRecord | Failure> {
  try {
    const rec = await readControl(p, id);
    if (!visibleTo(rec, uid, config)) return new Failure(EX_NOPERM, `${id}: permission denied (submitted by another user)`);
    return rec;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return new Failure(EX_NOUSER, `${id}: no such message in the queue (delivered or removed already?)`);
    if (code === 'EACCES' || code === 'EPERM') return new Failure(EX_NOPERM, `${id}: permission denied (cannot read the control record)`);
    if (e instanceof ControlFormatError) return new Failure(EX_DATAERR, `${id}: unreadable control record: ${e.message}`);
    throw e;
  }
}

const isFailure = (x: unknown): x is Failure => x instanceof Failure;

/** Change one message under its lock. Returns the line for stdout, or a Failure. */
async function changeOne(p: SpoolPaths, id: string, action: Action, config: Config, uid: number, who: string, now: () => number): Promise<string | Failure> {
  const first = await readFor(p, id, uid, config);
  if (isFailure(first)) return first;
  let release;
  try {
    release = await tryLock(p, id, config.lockStaleMs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
      return new Failure(EX_NOPERM, `${id}: cannot lock: ${code === 'EROFS' ? 'read-only file system' : 'permission denied'}`);
    throw e;
  }
  if (!release) return new Failure(EX_TEMPFAIL, `${id}: being delivered (locked); try again later`);
  try {
    // Why re-read under the lock: a runner may have delivered or changed it since the first read.
    const rec = await readFor(p, id, uid, config);
    if (isFailure(rec)) return rec;
    if (action === 'delete') {
      await removeMessage(p, id);
      return `${id}: deleted`;
    }
    const next = applyChange(rec, action, who, now());
    if (!next) return `${id}: already ${action === 'hold' ? 'on hold' : 'not on hold'}`;
    await writeControl(p, next);
    return `${id}: ${PAST[action]}`;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      return new Failure(EX_NOPERM, `${id}: cannot change the spool: ${code === 'EROFS' ? 'read-only file system' : 'permission denied'}`);
    }
    throw e;
  } finally {
    await release();
  }
}

/** The ids a selection (--all or filter) covers: committed, visible to the caller, matching. */
async function* selected(p: SpoolPaths, req: Extract<Request, { kind: 'change' }>, config: Config, uid: number, now: number): AsyncGenerator<string> {
  for (const id of await listIds(p)) {
    let rec: ControlRecord;
    try {
      rec = await readControl(p, id);
    } catch {
      continue; // gone since the listing, or unreadable: not part of a selection
    }
    if (!visibleTo(rec, uid, config)) continue;
    if (req.all || matchesFilter(rec, req.filter, now)) yield id;
  }
}

async function show(req: Extract<Request, { kind: 'show' }>, config: Config, uid: number, io: Io, now: number): Promise<number> {
  const p = spoolPaths(config.spool);
  const rec = await readFor(p, req.id, uid, config);
  if (isFailure(rec)) throw new OutboxError(rec.code, `queue show ${rec.line}`);
  // On a terminal, control characters are shown, not obeyed (unless --raw).
  const escape = !req.raw && isTerminal(io.stdout);
  if (req.json) {
    // JSON escapes C0 controls itself; DEL and C1 get \u escapes too (still the same JSON).
    const line = JSON.stringify(rec);
    io.stdout.write((escape ? escapeJsonControls(line) : line) + '\n');
    return EX_OK;
  }
  const active = (await lockedIds(p)).has(rec.id);
  const text = (t: string) => (escape ? escapeControls(t) : t);
  io.stdout.write(text(formatShow(rec, active, now)));
  if (!req.body) return EX_OK;
  io.stdout.write('Content:\n');
  // Streamed: a message may be large. Exactly the stored bytes (LF line ends), or escaped text.
  const decoder = escape ? new StringDecoder('utf8') : null;
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(messagePath(p, rec.id), 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new OutboxError(EX_NOUSER, `queue show ${rec.id}: the message was removed while being shown`);
    throw e;
  }
  try {
    const buf = Buffer.allocUnsafe(64 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      const chunk = Buffer.from(buf.subarray(0, bytesRead));
      if (!io.stdout.write(decoder ? escapeControls(decoder.write(chunk)) : chunk)) await new Promise((r) => io.stdout.once('drain', r));
    }
    if (decoder) io.stdout.write(escapeControls(decoder.end()));
  } finally {
    await fh.close();
  }
  return EX_OK;
}

export interface ManageContext {
  uid: number;
  user: string;
  now?: () => number;
}

/** Run a parsed request; returns the exit status. */
export async function runQueueCommand(req: Request, config: Config, io: Io, ctx: ManageContext): Promise<number> {
  const now = ctx.now ?? Date.now;
  if (req.kind === 'show') return show(req, config, ctx.uid, io, now());
  const p = spoolPaths(config.spool);
  if (!fs.existsSync(p.ctl) && req.ids.length === 0) return EX_OK; // no spool yet: nothing to select
  const who = `uid ${ctx.uid}${ctx.user ? ` (${ctx.user})` : ''}`;
  let status = EX_OK;
  let out = '';
  const flush = async () => {
    // Respect back-pressure (the daemon's reply socket): memory stays bounded.
    if (out && !io.stdout.write(out)) await new Promise((r) => io.stdout.once('drain', r));
    out = '';
  };
  const handle = async (id: string) => {
    const r = await changeOne(p, id, req.action, config, ctx.uid, who, now);
    if (typeof r === 'string') {
      out += r + '\n';
      if (out.length > 16384) await flush();
    } else {
      await flush();
      io.stderr.write(`outbox queue ${req.action}: ${r.line}\n`);
      if (status === EX_OK) status = r.code;
    }
  };
  if (req.ids.length > 0) for (const id of new Set(req.ids)) await handle(id);
  else for await (const id of selected(p, req, config, ctx.uid, now())) await handle(id);
  await flush();
  return status;
}
