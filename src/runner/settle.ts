/**
 * runner/settle.ts — the settle step of an attempt (attempt.ts), after sending and before the
 * record is updated (record.ts): one log line per recipient, one notice per configuration
 * problem, then, in this order:
 *   expire — schedule the next attempt (schedule.ts), or give deferred recipients up when the
 *            queue lifetime is over (time held for a configuration problem does not count);
 *   bounce — commit the non-delivery report (bounce.ts) for permanent failures; a bounce that
 *            cannot be bounced goes to the postmaster once, else it is held;
 *   warn   — commit the optional delay warning (delay_warning), once per message.
 * Reports are committed here, BEFORE the original's record changes: a crash in between can
 * duplicate a bounce but never lose one. Returns what the record step must write.
 */
import type { Config } from '../config/config.js';
import type { ControlRecord, RecipientState } from '../spool/format.js';
import type { Log } from '../log/log.js';
import { formatDelivery } from '../log/log.js';
import type { Outcome } from './classify.js';
import { type RetryPolicy, delayWarningDue, lifetimeStart, nextAttempt } from './schedule.js';
import { commitReport, postmasterAddress, wantsNotice, type ReportRecipient } from './bounce.js';
import type { Sent } from './send.js';

/** What the settle step needs from the engine. */
export interface SettleEnv {
  opts: { config: Config; log: Log; env: NodeJS.ProcessEnv; random?: () => number };
  policy: RetryPolicy;
  readonly configTag: string;
  now(): number;
  /** Log a configuration problem loudly, once for all the messages it keeps. */
  announce(o: Outcome): void;
}

/** The settle step's decisions, for the record step. */
export interface Settled {
  /** The next attempt (0: none is scheduled). */
  next: number;
  /** Recipients that failed in this attempt. */
  failedNow: RecipientState[];
  /** The delay warning was committed. */
  warned: boolean;
  /** Hold the message, its failures kept (a bounce that cannot be reported, or a report that could not be queued). */
  hold: boolean;
  /** Send this undeliverable bounce on to the postmaster at this address. */
  toPostmaster: string | undefined;
}

/** Log, expire, bounce, warn (see the header); `bounceIds` gets the reports committed. */
export async function settle(
  e: SettleEnv,
  id: string,
  rec: ControlRecord,
  pending: RecipientState[],
  sent: Sent,
  pickup: number,
  bounceIds: string[],
): Promise<Settled> {
  const now = e.now();
  const configProblem = logOutcomes(e, id, rec, pending, sent, pickup, now);
  const next = expire(e, id, rec, sent, configProblem, now);
  const failedNow = pending.filter((r) => sent.outcomes.get(r.address)?.status === 'failed');
  const { hold, toPostmaster } = await bounce(e, id, rec, failedNow, sent, now, bounceIds);
  const warned = next > 0 && !configProblem && (await warn(e, id, rec, pending, sent, now, bounceIds));
  return { next, failedNow, warned, hold, toPostmaster };
}

/** One log line per recipient; one loud notice per configuration problem. Returns whether there was one. */
function logOutcomes(e: SettleEnv, id: string, rec: ControlRecord, pending: RecipientState[], sent: Sent, pickup: number, now: number): boolean {
  const { outcomes, relayOf, timing } = sent;
  const problems: Outcome[] = [];
  for (const r of pending) {
    const o = outcomes.get(r.address);
    if (!o) continue;
    const [c, d] = timing.get(r.address) ?? [0, 0];
    const line = formatDelivery({
      rcpt: r.address,
      relay: relayOf.get(r.address) ?? 'none',
      delay: now - rec.arrival,
      delays: [pickup - rec.arrival, 0, c, d],
      dsn: o.dsn,
      status: o.status === 'failed' ? 'bounced' : o.status,
      reason: o.reason,
    });
    e.opts.log.line(id, line, 'info');
    if (o.fix) problems.push(o);
  }
  // One loud notice per configuration problem, not one per message (the lines above say
  // which messages it keeps).
  for (const o of problems) e.announce(o);
  return problems.length > 0;
}

/**
 * Schedule, expire: the next attempt (0: none), or deferred recipients turned into failures
 * when the queue lifetime is over. Time held for a configuration problem does not count
 * towards the queue lifetime (schedule.ts lifetimeStart()).
 */
function expire(e: SettleEnv, id: string, rec: ControlRecord, sent: Sent, configProblem: boolean, now: number): number {
  const { outcomes, relayOf, limitUntil } = sent;
  const anyDeferred = [...outcomes.values()].some((o) => o.status === 'deferred');
  const slow = [...outcomes.values()].some((o) => o.slow === true);
  if (configProblem) {
    rec.configSince ??= now;
    rec.configTag = e.configTag;
  } else if (rec.configSince !== undefined) {
    rec.configMs = (rec.configMs ?? 0) + Math.max(0, now - rec.configSince);
    delete rec.configSince;
    delete rec.configTag;
  }
  // Kept only by sending limits or a quota pause: due when they end, never expired.
  const limitWaits = [...outcomes].filter(([, o]) => o.status === 'deferred').map(([a]) => limitUntil.get(a));
  if (anyDeferred && limitWaits.every((t) => t !== undefined)) return Math.min(...(limitWaits as number[]));
  if (!anyDeferred) return 0;
  const n = nextAttempt(e.policy, rec.attempts + 1, lifetimeStart(rec, now), now, e.opts.random, slow);
  if ('giveUp' in n && !configProblem) {
    for (const [a, o] of outcomes) {
      if (o.status === 'deferred') {
        outcomes.set(a, { status: 'failed', dsn: o.dsn.replace(/^4/, '5'), reason: `delivery time expired: ${o.reason}` });
        e.opts.log.line(
          id,
          `to=<${a}>, relay=${relayOf.get(a) ?? 'none'}, delay=${Math.round((now - rec.arrival) / 1000)}, dsn=${o.dsn.replace(/^4/, '5')}, status=expired, returned to sender`,
          'warning',
        );
      }
    }
    return 0;
  }
  const table = e.policy.retryScheduleMs;
  return 'retryAt' in n ? n.retryAt : now + table[table.length - 1]!;
}

/** Commit the non-delivery report for `failedNow`, or decide where an undeliverable bounce goes. */
async function bounce(
  e: SettleEnv,
  id: string,
  rec: ControlRecord,
  failedNow: RecipientState[],
  sent: Sent,
  now: number,
  bounceIds: string[],
): Promise<Pick<Settled, 'hold' | 'toPostmaster'>> {
  const { config, log } = e.opts;
  if (failedNow.length === 0) return { hold: false, toPostmaster: undefined };
  if (rec.sender === '') {
    // Never a bounce about a bounce: on to the postmaster once, else held and reported.
    const pm = rec.postmaster === undefined ? postmasterAddress(config, e.opts.env) : undefined;
    if (pm && !failedNow.some((r) => r.address.toLowerCase() === pm.toLowerCase())) {
      log.line(id, `undeliverable message with the null sender (a bounce): sent on to the postmaster <${pm}>, never bounced`, 'warning');
      return { hold: false, toPostmaster: pm };
    }
    log.line(
      id,
      `undeliverable message with the null sender (a bounce): kept on hold, never bounced${rec.postmaster !== undefined ? ` (the postmaster <${rec.postmaster}> could not take it either)` : ': set postmaster (or OUTBOX_POSTMASTER) to have such mail sent on'}`,
      'error',
    );
    return { hold: true, toPostmaster: undefined };
  }
  const notice: ReportRecipient[] = failedNow
    .filter((r) => wantsNotice(r, 'failed'))
    .map((r) => {
      const o = sent.outcomes.get(r.address)!;
      const peer = sent.relayOf.get(r.address) ?? '';
      return {
        address: r.address,
        ...(r.orcpt ? { orcpt: r.orcpt } : {}),
        dsn: o.dsn,
        reason: o.reason,
        ...(peer && peer !== 'none' ? { remoteMta: `dns; ${peer.replace(/\[.*$/, '').replace(/:\d+$/, '')}` } : {}),
      };
    });
  if (notice.length === 0) return { hold: false, toPostmaster: undefined };
  try {
    const bid = await commitReport(config, rec, 'failed', notice, now);
    bounceIds.push(bid);
    log.line(id, `sender non-delivery notification: ${bid}`);
    return { hold: false, toPostmaster: undefined };
  } catch (err) {
    // Keep the original (its failed recipients marked) so nothing is lost.
    log.line(id, `could not queue the bounce: ${(err as Error).message}; message kept on hold`, 'error');
    return { hold: true, toPostmaster: undefined };
  }
}

/**
 * The optional delay warning (delay_warning), once per message, never for a bounce, nor while
 * a configuration problem holds it (the caller checks): the warning would go through the same
 * broken relay (or to the very sender it refuses); the administrator has the notice. Returns
 * whether it was committed.
 */
async function warn(e: SettleEnv, id: string, rec: ControlRecord, pending: RecipientState[], sent: Sent, now: number, bounceIds: string[]): Promise<boolean> {
  if (rec.sender === '' || !delayWarningDue(e.policy, rec.arrival, now, rec.warned === true)) return false;
  const { outcomes } = sent;
  const late: ReportRecipient[] = pending
    .filter((r) => outcomes.get(r.address)?.status === 'deferred' && wantsNotice(r, 'delayed'))
    .map((r) => ({
      address: r.address,
      ...(r.orcpt ? { orcpt: r.orcpt } : {}),
      dsn: outcomes.get(r.address)!.dsn,
      reason: outcomes.get(r.address)!.reason,
    }));
  if (late.length === 0) return false;
  try {
    const wid = await commitReport(e.opts.config, rec, 'delayed', late, now);
    bounceIds.push(wid);
    e.opts.log.line(id, `sender delay notification: ${wid}`);
    return true;
  } catch (err) {
    e.opts.log.line(id, `could not queue the delay warning: ${(err as Error).message}`, 'warning');
    return false;
  }
}
