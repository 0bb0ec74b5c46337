/**
 * queue/problems.ts — why mail is stuck, grouped by cause: the summary at the end of `mailq`,
 * the `problem` of each message in `mailq --json`, and `outbox check --queue`. Pure (records in, text out).
 *
 * Each message with pending recipients has at most one problem, the first that applies:
 *   failed-bounce  an undeliverable bounce kept on hold (no postmaster address took it);
 *   on-hold        held by `outbox queue hold` (released by `outbox queue release`);
 *   held           kept by a configuration problem of this host (a refused login or sender, TLS,
 *                  an unreadable secret: runner/classify.ts) or by a `relay = "hold"` route;
 *                  never bounced, delivered by the next queue run after the fix;
 *   deferred       tried and failed temporarily; retried on schedule.
 * A message not tried yet has no problem.
 */
import { type ControlRecord, pendingRecipients } from '../spool/format.js';

export type ProblemKind = 'held' | 'failed-bounce' | 'on-hold' | 'deferred';

export interface Problem {
  kind: ProblemKind;
  /** The cause in a few words: what messages are grouped by. */
  cause: string;
  /** What to do about it, when known. */
  fix?: string;
}

export interface ProblemGroup extends Problem {
  count: number;
  /** Arrival of the oldest message of the group (ms). */
  oldest: number;
}

/** "reason; fix: fix", without saying the fix twice when the reason already does. */
export function withFix(reason: string, fix: string | undefined): string {
  return fix && !reason.includes(fix) ? `${reason}; fix: ${fix}` : reason;
}

/** The problem of one message, or null when it has none (not tried yet, or nothing pending). */
export function problemOf(rec: ControlRecord): Problem | null {
  const pending = pendingRecipients(rec);
  if (pending.length === 0) return null;
  const why = pending.find((r) => r.reason)?.reason ?? rec.lastError;
  if (rec.hold && rec.sender === '') {
    return {
      kind: 'failed-bounce',
      cause: `undeliverable bounce${why ? ` (${why})` : ''}`,
      fix: 'set postmaster (or OUTBOX_POSTMASTER) and release it: outbox queue release ID',
    };
  }
  if (rec.hold) return { kind: 'on-hold', cause: 'on hold', fix: 'outbox queue release ID' };
  const config = pending.find((r) => r.fix !== undefined || r.reason?.startsWith('held by route '));
  if (config) return { kind: 'held', cause: config.cause ?? config.reason ?? 'configuration problem', ...(config.fix ? { fix: config.fix } : {}) };
  if (rec.attempts > 0 && why) return { kind: 'deferred', cause: why };
  return null;
}

const KIND_ORDER: ProblemKind[] = ['held', 'failed-bounce', 'on-hold', 'deferred'];

/** Collects problems message by message; groups() returns them grouped, worst kind and biggest group first. */
export class ProblemSummary {
  private map = new Map<string, ProblemGroup>();
  add(rec: ControlRecord): void {
    const p = problemOf(rec);
    if (!p) return;
    const key = `${p.kind}\0${p.cause}\0${p.fix ?? ''}`;
    const g = this.map.get(key);
    if (g) {
      g.count++;
      g.oldest = Math.min(g.oldest, rec.arrival);
    } else this.map.set(key, { ...p, count: 1, oldest: rec.arrival });
  }
  groups(): ProblemGroup[] {
    return [...this.map.values()].sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || b.count - a.count || a.oldest - b.oldest);
  }
  count(kind: ProblemKind): number {
    let n = 0;
    for (const g of this.map.values()) if (g.kind === kind) n += g.count;
    return n;
  }
}

const LABEL: Record<ProblemKind, string> = { held: 'held', 'failed-bounce': 'failed bounce(s) held', 'on-hold': 'on hold', deferred: 'deferred' };

/** One group as a line: "7 held: relay env refuses the sender <x@vm>: set domain (or OUTBOX_DOMAIN)". */
export function formatGroup(g: ProblemGroup): string {
  return `${g.count} ${LABEL[g.kind]}: ${g.cause}${g.fix ? `: ${g.fix}` : ''}`;
}

/** Show at most this many groups; the rest are counted in one line. */
export const MAX_GROUPS = 10;

/** The summary block of the mailq listing ('' when nothing is stuck). */
export function formatSummary(groups: ProblemGroup[]): string {
  if (groups.length === 0) return '';
  const shown = groups.slice(0, MAX_GROUPS);
  let out = 'Problems:\n';
  for (const g of shown) out += `  ${formatGroup(g)}\n`;
  const rest = groups.slice(MAX_GROUPS).reduce((n, g) => n + g.count, 0);
  if (rest > 0) out += `  ${rest} more with other causes (outbox queue show ID)\n`;
  return out + '\n';
}
