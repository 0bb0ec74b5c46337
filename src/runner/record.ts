/**
 * runner/record.ts — the record step of an attempt (attempt.ts), the last: the attempt's
 * outcomes applied to the control record (per-recipient status, attempts, nextAttempt,
 * lastError, history), then written durably: the message is removed when nothing is left (the
 * unlink of ctl/ID is the commit), else ctl/ID is rewritten. Accepted recipients are thus never
 * sent again. Runs only after settle.ts has committed the reports.
 */
import { type ControlRecord, type RecipientState, pendingRecipients, withHistory } from '../spool/format.js';
import { type SpoolPaths, removeMessage, writeControl } from '../spool/spool.js';
import type { Log } from '../log/log.js';
import { withFix } from '../queue/problems.js';
import type { Outcome } from './classify.js';
import type { Settled } from './settle.js';

/** A new record with this attempt's outcomes applied (attempts counted once, when `final`). */
export function applyOutcomes(rec: ControlRecord, outcomes: Map<string, Outcome>, relayOf: Map<string, string>, final: boolean, now: number): ControlRecord {
  const recipients = rec.recipients.map((r) => {
    const o = outcomes.get(r.address);
    if (!o || r.status === 'sent' || r.status === 'failed') return r;
    const { fix: _f, cause: _c, ...rest } = r;
    return {
      ...rest,
      status: o.status,
      reason: o.reason,
      ...(o.fix ? { fix: o.fix, cause: o.cause ?? o.reason } : {}),
      dsn: o.dsn,
      relay: relayOf.get(r.address) ?? 'none',
      updated: now,
    };
  });
  let next: ControlRecord = { ...rec, recipients };
  if (final) {
    const deferred = [...outcomes.values()].find((o) => o.status === 'deferred');
    next.attempts = rec.attempts + 1;
    if (deferred) next.lastError = withFix(deferred.reason, deferred.fix);
    const counts = { sent: 0, deferred: 0, failed: 0 };
    for (const o of outcomes.values()) counts[o.status]++;
    next = withHistory(next, {
      time: now,
      event: 'attempt',
      detail: `sent=${counts.sent} deferred=${counts.deferred} failed=${counts.failed}${deferred ? `: ${deferred.reason}` : ''}`,
    });
  }
  return next;
}

/**
 * Write the attempt's result: outcomes, the schedule and the settle step's decisions. Returns
 * the number of recipients still pending (0: the message is gone).
 */
export async function record(
  o: { paths: SpoolPaths; log: Log },
  id: string,
  rec0: ControlRecord,
  sent: { outcomes: Map<string, Outcome>; relayOf: Map<string, string> },
  s: Settled,
  now: number,
  bounceIds: string[],
): Promise<number> {
  const rec = applyOutcomes(rec0, sent.outcomes, sent.relayOf, true, now);
  rec.nextAttempt = s.next;
  if (s.warned) rec.warned = true;
  if (s.hold) {
    // Failures that could not be reported stay queued (on hold), so nothing is lost.
    rec.hold = true;
    for (const r of rec.recipients) if (r.status === 'failed' && s.failedNow.some((f: RecipientState) => f.address === r.address)) r.status = 'deferred';
  }
  if (s.toPostmaster) {
    rec.postmaster = s.toPostmaster;
    rec.recipients = [...rec.recipients, { address: s.toPostmaster, status: 'pending' }];
    rec.nextAttempt = 0;
    bounceIds.push(id);
  }
  const remaining = pendingRecipients(rec).length;
  if (remaining === 0) {
    await removeMessage(o.paths, id);
    o.log.line(id, 'removed');
  } else {
    await writeControl(o.paths, rec);
  }
  return remaining;
}
