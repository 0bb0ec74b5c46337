/**
 * runner/attempt.ts — one delivery attempt of one queued message, in named steps (dma's
 * deliver()), each for a reason:
 *   1. lock and read — tryLock (spool/lock.ts), the only lock: two runners never deliver the
 *      same message; the control record is read under it, since another runner may have
 *      delivered the message already.
 *   2. plan — route each pending recipient (or hold it: `relay = "hold"`) and rewrite the sender
 *      and header per relay group (plan/rewrite.ts).
 *   3. send — each group over the slot's session to its relay or a fallback (send.ts); each
 *      recipient's result classified (classify.ts). A configuration problem of this host
 *      (login, TLS, a refused sender, ...) holds the message, never bounces it: one loud notice
 *      per cause and fix, the held time kept out of the queue lifetime, and the configuration's
 *      fingerprint recorded (configTag) so that it is due at once when that changes (isDue()).
 *   4. settle — expire, bounce, warn (settle.ts): reports are COMMITTED HERE, before the
 *      original's record changes, so a crash in between can duplicate a bounce, never lose one.
 *   5. record — the outcome written durably (record.ts): removed when nothing is left, else
 *      rewritten. A runner killed at any point (even mid-DATA) loses nothing: the message is
 *      still pending and is retried (at most one duplicate after a kill during DATA).
 * Then the lock is released. The engine around it is engine.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config/config.js';
import { type ControlRecord, type RecipientState, pendingRecipients } from '../spool/format.js';
import { type SpoolPaths, messagePath, readControlSync, removeMessage, writeControl } from '../spool/spool.js';
import { tryLock } from '../spool/lock.js';
import type { Log } from '../log/log.js';
import { formatPickup, formatReceived } from '../log/log.js';
import type { Outcome } from './classify.js';
import { explainRoute } from '../plan/routing.js';
import { fromAddressOf, planDelivery } from '../plan/rewrite.js';
import { headerSectionOf, readStoredHeader } from '../plan/rewrite-stream.js';
import type { Slot } from './pool.js';
import { type StoredMessage, groupMessageFor } from './transaction.js';
import { type PlannedGroup, type SendEnv, sendGroups } from './send.js';
import { type SettleEnv, settle } from './settle.js';
import { record } from './record.js';

/** Messages up to this size are read into memory for sending; larger ones are streamed. */
const SMALL_MESSAGE = 256 * 1024;

export type MessageState = 'done' | 'gone' | 'locked' | 'held' | 'not-due' | 'error';

export interface MessageResult {
  id: string;
  state: MessageState;
  /** Outcomes of this attempt per recipient address. */
  outcomes: Map<string, Outcome>;
  /** Recipients still pending after this attempt (deferred or on hold). */
  remaining: number;
  /** Why the message was not attempted (state 'held'): for `outbox deliver -v`. */
  heldReason?: string;
  bounceIds: string[];
}

/** What an attempt needs from the engine (engine.ts). */
export interface AttemptEnv extends Omit<SendEnv, 'opts'>, Omit<SettleEnv, 'opts'> {
  opts: SendEnv['opts'] & SettleEnv['opts'] & { config: Config; paths: SpoolPaths; log: Log };
  /** Is the message due (its time has come, or the configuration it waits for changed)? */
  isDue(rec: Pick<ControlRecord, 'nextAttempt' | 'configTag'>, now: number): boolean;
}

/** Why recipients kept by a `relay = "hold"` route stay: "held by route N (file:line)". */
export function routeHoldReason(
  config: Pick<Config, 'routes' | 'defaultRelay' | 'relays' | 'file'>,
  sender: string,
  address: string,
  from: string | undefined,
): string {
  const e = explainRoute(config, sender, address, from);
  const where = e.rule?.line ? ` (${config.file ?? 'configuration'}:${e.rule.line})` : '';
  return `held by route ${e.ruleIndex ?? '?'}${where}: relay = "hold"`;
}

/** Attempt message `id` in `slot` (`force`: due or not). Throws only on an unexpected error. */
export async function attempt(e: AttemptEnv, slot: Slot, id: string, force: boolean): Promise<MessageResult> {
  const result: MessageResult = { id, state: 'done', outcomes: new Map(), remaining: 0, bounceIds: [] };
  const release = await tryLock(e.opts.paths, id, e.opts.config.lockStaleMs);
  if (!release) return { ...result, state: 'locked' };
  try {
    const read = await readUnderLock(e, id, force); // 1. lock and read
    if ('state' in read) return { ...result, ...read };
    const plan = await planGroups(e, id, read.rec, read.pending); // 2. plan
    if (plan.groups.length === 0) return { ...result, state: 'held', remaining: read.pending.length, heldReason: plan.heldWhy };
    const { rec, sent } = await sendGroups(e, slot, id, plan.rec, plan.groups, plan.message); // 3. send
    result.outcomes = sent.outcomes;
    const settled = await settle(e, id, rec, read.pending, sent, read.pickup, result.bounceIds); // 4. settle: bounces committed
    const remaining = await record(e.opts, id, rec, sent, settled, e.now(), result.bounceIds); // 5. record, only then
    return { ...result, remaining };
  } finally {
    await release();
  }
}

/** Step 1: the control record, read under the lock; or why this attempt ends here. */
async function readUnderLock(
  e: AttemptEnv,
  id: string,
  force: boolean,
): Promise<{ rec: ControlRecord; pending: RecipientState[]; pickup: number } | { state: MessageState; remaining?: number }> {
  const { paths, log } = e.opts;
  let rec: ControlRecord;
  try {
    // Small files read synchronously: one call instead of four thread-pool round trips
    // (open, stat, read, close), which is most of the CPU a flush spends per message.
    rec = readControlSync(paths, id);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { state: 'gone' };
    if (code === 'EACCES' || code === 'EPERM') {
      // Someone else's record (root's, written by hand or by an old version): only root can
      // give it back, and until then the message waits. Said on every attempt, and by mailq.
      let owner = '';
      try {
        owner = `, owned by uid ${fs.statSync(path.join(paths.ctl, id)).uid}`;
      } catch {
        // gone meanwhile
      }
      log.line(id, `control record unreadable by the runner (${code}${owner}); run "sudo sendmail -q" once to give it back to the spool owner`, 'error');
    } else log.line(id, `unreadable control record, left alone: ${(err as Error).message}`, 'error');
    return { state: 'error' };
  }
  const pickup = e.now();
  if (rec.hold) return { state: 'held', remaining: pendingRecipients(rec).length };
  if (!force && !e.isDue(rec, pickup)) return { state: 'not-due', remaining: pendingRecipients(rec).length };
  const pending = pendingRecipients(rec);
  if (pending.length === 0) {
    await removeMessage(paths, id);
    log.line(id, 'removed');
    return { state: 'gone' };
  }
  return { rec, pending, pickup };
}

/**
 * Step 2: the relay groups (plan/rewrite.ts): route each recipient (or hold it) and rewrite the
 * sender and header per group (masquerade, force_sender, sender_table). Small messages are read
 * whole once (header and sending); large ones are streamed, so memory stays flat.
 */
async function planGroups(
  e: AttemptEnv,
  id: string,
  rec0: ControlRecord,
  pending: RecipientState[],
): Promise<{ rec: ControlRecord; groups: PlannedGroup[]; message: StoredMessage; heldWhy: string }> {
  const { paths, log, config } = e.opts;
  let rec = rec0;
  const file = messagePath(paths, id);
  let whole: Buffer | undefined;
  let message: StoredMessage;
  if (rec.size <= SMALL_MESSAGE) {
    whole = fs.readFileSync(file);
    message = { file, whole, stored: headerSectionOf(whole) ?? { text: whole.toString('latin1'), bodyOffset: whole.length }, size: rec.size };
  } else message = { file, whole: undefined, stored: await readStoredHeader(file), size: rec.size };
  const { stored } = message;
  const byAddress = new Map(pending.map((r) => [r.address, r]));
  const groups: PlannedGroup[] = [];
  let held = 0;
  const holdReasons = new Map<string, string>();
  for (const g of planDelivery(config, { sender: rec.sender, recipients: pending.map((r) => r.address), header: stored.text })) {
    const rcpts = g.recipients.map((a) => byAddress.get(a)).filter((r): r is RecipientState => r !== undefined);
    if (!g.relay) {
      held += rcpts.length;
      const from = fromAddressOf(stored.text);
      for (const r of rcpts) holdReasons.set(r.address, routeHoldReason(config, rec.sender, r.address, from));
      continue;
    }
    if (g.rewrites.length > 0) log.line(id, `rewritten for relay ${g.relay}: ${g.rewrites.join('; ')}`);
    groups.push({ relay: g.relay, rcpts, msg: groupMessageFor(message, g) });
  }

  // Recipients held by a route say so (mailq, queue show): written only when that changes.
  const heldWhy = [...new Set(holdReasons.values())].join('; ');
  if (holdReasons.size > 0 && rec.recipients.some((r) => holdReasons.has(r.address) && r.reason !== holdReasons.get(r.address))) {
    const changed = rec.recipients.map((r) =>
      holdReasons.has(r.address) ? { ...r, reason: holdReasons.get(r.address)!, cause: holdReasons.get(r.address)! } : r,
    );
    rec = { ...rec, recipients: changed };
    await writeControl(paths, rec);
    if (groups.length === 0) log.line(id, `${held} recipient(s) ${heldWhy}`);
  }
  // Nothing to attempt (every pending recipient held by a route): the schedule stays as it is.
  if (groups.length === 0) return { rec, groups, message, heldWhy };
  // First sight of a message submitted on this host (drops are logged by pickup, listener
  // mail by smtpd, bounces are our own): Postfix's pickup line, which log reports count.
  if (rec.attempts === 0 && !rec.drop && rec.origin !== 'bounce' && rec.origin !== 'smtp') log.line(id, formatReceived(rec.uid, rec.sender), 'info', 'pickup');
  log.line(id, formatPickup(rec.sender, rec.size, pending.length));
  if (held > 0) log.line(id, `${held} recipient(s) ${heldWhy}`);
  return { rec, groups, message, heldWhy };
}
