/**
 * queue/filter.ts — which queued messages a selection names: the one queue filter, for
 * `sendmail -qI/-qR/-qS` (runner/setup.ts) and `outbox queue ... --sender/--recipient/--held/
 * --deferred/--older-than` (queue/manage.ts). Pure.
 *
 * Every kind given must match; the values of one kind are alternatives. Texts match as
 * case-blind substrings: of the queue id, of a pending recipient (delivered ones no longer
 * count), of the envelope sender, where the null sender is written `<>` (as mailq shows it).
 */
import { type ControlRecord, pendingRecipients } from '../spool/format.js';

export interface QueueFilter {
  /** -qI: the queue id contains one of these. */
  ids?: readonly string[];
  senders?: readonly string[];
  recipients?: readonly string[];
  /** On hold. */
  held?: boolean;
  /** Tried at least once. */
  deferred?: boolean;
  /** Arrived more than this many ms before `now`; 0 or absent: no age condition. */
  olderThanMs?: number;
}

/** Does a message match the filter (every given condition)? Pure. */
export function matchesFilter(rec: ControlRecord, f: QueueFilter, now = Date.now()): boolean {
  const lower = (s: string) => s.toLowerCase();
  if (f.ids?.length && !f.ids.some((x) => lower(rec.id).includes(lower(x)))) return false;
  if (f.senders?.length) {
    const s = rec.sender === '' ? '<>' : lower(rec.sender);
    if (!f.senders.some((x) => (x === '<>' ? s === '<>' : s.includes(lower(x))))) return false;
  }
  if (f.recipients?.length) {
    const rcpts = pendingRecipients(rec).map((r) => lower(r.address));
    if (!f.recipients.some((x) => rcpts.some((a) => a.includes(lower(x))))) return false;
  }
  if (f.held && !rec.hold) return false;
  if (f.deferred && rec.attempts === 0) return false;
  if (f.olderThanMs && now - rec.arrival <= f.olderThanMs) return false;
  return true;
}
