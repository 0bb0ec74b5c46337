/**
 * runner/limits.ts — a relay's sending limits and quota pause, shared by every runner of the
 * spool (sendmail -q, the daemon, lingering runners: several processes at once).
 *
 * On-disk format, SPOOL/run/limits/NAME.json (version 1; unknown fields are ignored; a missing
 * or unreadable file is an empty state):
 *   {"v":1,
 *    "next": <ms: the rate's "next send not before">,           optional
 *    "later": <ms: the turn of the next message the rate defers>, optional
 *    "sends": [[<ms>, <recipients>], ...],                     sends of the last 24 h (daily_*)
 *    "pause": {"until": <ms>, "reason": "...", "count": N}}    a quota reply paused the relay
 * Every change is read-modify-write under SPOOL/run/limits/NAME.json.lock (proper-lockfile,
 * held for a few milliseconds) and written to a temporary file renamed over the old one, so two
 * runners never both take the same rate slot or the last message of a daily quota.
 *
 * The rate is a smooth spacing (a token bucket of depth 1): each message reserves the slot
 * max(now, next) and moves `next` one interval on, whatever the number of connections, so slow
 * start and parallel sessions never burst past it. A slot less than MAX_WAIT_MS away is waited
 * for in-process; a later one, a full daily quota, or a pause defers the message (it stays
 * queued with the reason and the time it becomes due; never a failure, never a bounce).
 * Messages the rate defers get turns one interval apart (`later`), so they come back in order.
 * Daily counts are a rolling 24 hours. A reservation whose send fails is given back (the daily
 * count only; the rate slot is spent). Next: send.ts (limitGate), config/limits.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import lockfile from 'proper-lockfile';
import type { RelayLimits } from '../config/limits.js';
import type { SpoolPaths } from '../spool/spool.js';

export const DAY_MS = 86_400_000;
/** The longest a runner waits in-process for a rate slot; later slots defer the message. */
export const MAX_WAIT_MS = 30_000;
/** Quota pauses without a known window: 1 h, 2 h, 4 h, ... up to a day. */
const PAUSE_BASE_MS = 3600_000;

export interface LimitState {
  v: 1;
  next?: number;
  /** The turn the next message deferred by the rate gets (after the last one deferred). */
  later?: number;
  sends: [number, number][];
  pause?: { until: number; reason: string; count: number };
}

/** A reservation: send at `at` (a timestamp, may be now); or wait until `until` in the queue. */
export type Grant = { at: number; recorded: boolean } | { until: number; reason: string };

export function limitsFile(paths: SpoolPaths, relay: string): string {
  return path.join(paths.run, 'limits', `${relay}.json`);
}

/** The state of relay `relay` (empty when none was written). Lock-free: a snapshot. */
export function readLimitState(paths: SpoolPaths, relay: string): LimitState {
  try {
    const j = JSON.parse(fs.readFileSync(limitsFile(paths, relay), 'utf8')) as Partial<LimitState>;
    return {
      v: 1,
      ...(typeof j.next === 'number' ? { next: j.next } : {}),
      ...(typeof j.later === 'number' ? { later: j.later } : {}),
      sends: Array.isArray(j.sends) ? j.sends.filter((e) => Array.isArray(e) && typeof e[0] === 'number' && typeof e[1] === 'number') : [],
      ...(j.pause && typeof j.pause.until === 'number'
        ? { pause: { until: j.pause.until, reason: String(j.pause.reason ?? 'paused'), count: Number(j.pause.count) || 1 } }
        : {}),
    };
  } catch {
    return { v: 1, sends: [] };
  }
}

/** Change relay `relay`'s state under its lock; `change` returns the result (and edits the state). */
async function update<T>(paths: SpoolPaths, relay: string, change: (s: LimitState) => T): Promise<T> {
  const file = limitsFile(paths, relay);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const release = await lockfile.lock(file, {
    realpath: false,
    lockfilePath: `${file}.lock`,
    stale: 10_000,
    retries: { retries: 400, minTimeout: 5, maxTimeout: 50 },
  });
  try {
    const state = readLimitState(paths, relay);
    const out = change(state);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(state) + '\n', { mode: 0o600 });
    // Why rename: a reader (mailq, check, another runner's pause check) never sees half a file.
    fs.renameSync(tmp, file);
    return out;
  } finally {
    await release();
  }
}

/** The sends still inside the rolling window at `now`. */
function inWindow(s: LimitState, now: number): [number, number][] {
  return s.sends.filter(([t]) => t > now - DAY_MS);
}

function when(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * Is relay `relay` over a daily limit for one more message of `rcpts` recipients at `now`?
 * Returns when it is due again and why, or null. Pure. A message larger than the whole daily
 * recipient limit goes when the window is empty (else it would never go).
 */
export function dailyBlock(
  relay: string,
  limits: RelayLimits,
  sends: [number, number][],
  rcpts: number,
  now: number,
): { until: number; reason: string } | null {
  const sorted = [...sends].sort((a, b) => a[0] - b[0]);
  if (limits.dailyMessages !== undefined && sorted.length + 1 > limits.dailyMessages) {
    // Due when enough of the oldest sends have left the window.
    const at = sorted[sorted.length - limits.dailyMessages]![0] + DAY_MS;
    return { until: at, reason: `daily quota: ${sorted.length} of ${limits.dailyMessages} messages in 24 h sent through relay ${relay}; due at ${when(at)}` };
  }
  const used = sorted.reduce((n, [, r]) => n + r, 0);
  if (limits.dailyRecipients !== undefined && used > 0 && used + rcpts > limits.dailyRecipients) {
    let left = used;
    let at = now;
    for (const [t, r] of sorted) {
      left -= r;
      at = t + DAY_MS;
      if (left + rcpts <= limits.dailyRecipients) break;
    }
    return { until: at, reason: `daily quota: ${used} of ${limits.dailyRecipients} recipients in 24 h sent through relay ${relay}; due at ${when(at)}` };
  }
  return null;
}

/** Is relay `relay` paused at `now` (a lock-free look; the common case costs one failed open)? */
export function pausedUntil(paths: SpoolPaths, relay: string, now: number): { until: number; reason: string } | null {
  const p = readLimitState(paths, relay).pause;
  return p && p.until > now ? { until: p.until, reason: p.reason } : null;
}

/**
 * Reserve one message of `rcpts` recipients to relay `relay` at `now`: its rate slot and its
 * place in the daily counts, or the time it becomes due. `limits` undefined: only a pause applies.
 */
export async function reserve(paths: SpoolPaths, relay: string, limits: RelayLimits | undefined, rcpts: number, now: number): Promise<Grant> {
  if (!limits) return pausedUntil(paths, relay, now) ?? { at: now, recorded: false };
  return update(paths, relay, (s): Grant => {
    if (s.pause && s.pause.until > now) return { until: s.pause.until, reason: s.pause.reason };
    s.sends = inWindow(s, now);
    const block = dailyBlock(relay, limits, s.sends, rcpts, now);
    if (block) return block;
    let at = now;
    if (limits.intervalMs !== undefined) {
      at = Math.max(now, s.next ?? 0);
      if (at - now > MAX_WAIT_MS) {
        // Each message deferred gets its own later turn (`later`), so that they come back one
        // interval apart rather than all at once, each to be deferred again.
        const until = Math.max(at, s.later ?? 0);
        s.later = until + limits.intervalMs;
        return { until, reason: `rate limit: relay ${relay} allows ${limits.rate}; due at ${when(until)}` };
      }
      s.next = at + limits.intervalMs;
    }
    const counted = limits.dailyMessages !== undefined || limits.dailyRecipients !== undefined;
    if (counted) s.sends.push([at, rcpts]);
    return { at, recorded: counted };
  });
}

/** Give back a reservation whose message was not accepted (the daily count; the slot is spent). */
export async function unreserve(paths: SpoolPaths, relay: string, at: number, rcpts: number): Promise<void> {
  await update(paths, relay, (s) => {
    const i = s.sends.findIndex(([t, r]) => t === at && r === rcpts);
    if (i >= 0) s.sends.splice(i, 1);
  });
}

/**
 * A quota or throttling reply from relay `relay`: pause it for every runner until the daily
 * window frees a message (when daily limits are known), else for a backoff that doubles with
 * each pause in a row (1 h, 2 h, ... a day). Returns the pause.
 */
export async function pauseRelay(
  paths: SpoolPaths,
  relay: string,
  limits: RelayLimits | undefined,
  reply: string,
  now: number,
): Promise<{ until: number; reason: string }> {
  return update(paths, relay, (s) => {
    if (s.pause && s.pause.until > now) return s.pause;
    const count = (s.pause?.count ?? 0) + 1;
    s.sends = inWindow(s, now);
    const window = limits ? dailyBlock(relay, limits, s.sends, 1, now) : null;
    const until = window && window.until > now ? window.until : now + Math.min(DAY_MS, PAUSE_BASE_MS * 2 ** Math.min(10, count - 1));
    s.pause = { until, reason: `relay ${relay} paused after a quota reply (${reply}); due at ${when(until)}`, count };
    return s.pause;
  });
}

/** A message was accepted: a pause that has ended starts the backoff again from 1 h. */
export async function clearPause(paths: SpoolPaths, relay: string, now: number): Promise<void> {
  const p = readLimitState(paths, relay).pause;
  if (!p || p.until > now) return;
  await update(paths, relay, (s) => {
    if (s.pause && s.pause.until <= now) delete s.pause;
  });
}

/** Usage of a relay at `now`, for `outbox check` and `mailq --json`. Pure. */
export function limitUsage(
  limits: RelayLimits | undefined,
  s: LimitState,
  now: number,
): { messages: number; recipients: number; resetsAt?: number; pausedUntil?: number; pauseReason?: string } {
  const w = inWindow(s, now).sort((a, b) => a[0] - b[0]);
  return {
    messages: w.length,
    recipients: w.reduce((n, [, r]) => n + r, 0),
    ...(w.length > 0 && limits ? { resetsAt: w[0]![0] + DAY_MS } : {}),
    ...(s.pause && s.pause.until > now ? { pausedUntil: s.pause.until, pauseReason: s.pause.reason } : {}),
  };
}

function inAbout(ms: number): string {
  if (ms >= 3600_000) return `${Math.round(ms / 3600_000)} h`;
  if (ms >= 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.max(1, Math.round(ms / 1000))} s`;
}

/**
 * `outbox check`'s lines about a relay's limits and their use: "daily: 1,742 of 2,000 messages,
 * resets in 3 h"; a pause is a warning. Pure. `state` null: the spool's state is not readable here.
 */
export function limitReport(limits: RelayLimits | undefined, state: LimitState | null, now: number): { level: 'info' | 'warn'; text: string }[] {
  const out: { level: 'info' | 'warn'; text: string }[] = [];
  if (limits) {
    const set = [
      limits.rate ? `rate ${limits.rate}` : '',
      limits.dailyMessages ? `${limits.dailyMessages.toLocaleString('en-US')} messages a day` : '',
      limits.dailyRecipients ? `${limits.dailyRecipients.toLocaleString('en-US')} recipients a day` : '',
    ].filter(Boolean);
    out.push({ level: 'info', text: `limits: ${set.join(', ')}` });
  }
  if (!state) {
    if (limits) out.push({ level: 'info', text: 'limits: usage not readable by this user (run as root or the spool owner)' });
    return out;
  }
  const u = limitUsage(limits, state, now);
  const resets = u.resetsAt !== undefined ? `, resets in ${inAbout(u.resetsAt - now)}` : '';
  if (limits?.dailyMessages)
    out.push({ level: 'info', text: `daily: ${u.messages.toLocaleString('en-US')} of ${limits.dailyMessages.toLocaleString('en-US')} messages${resets}` });
  if (limits?.dailyRecipients)
    out.push({
      level: 'info',
      text: `daily: ${u.recipients.toLocaleString('en-US')} of ${limits.dailyRecipients.toLocaleString('en-US')} recipients${resets}`,
    });
  if (u.pausedUntil !== undefined) out.push({ level: 'warn', text: `${u.pauseReason} (in ${inAbout(u.pausedUntil - now)})` });
  return out;
}

/** The state for `outbox check`: null when the spool's limits directory cannot be read here. */
export function readLimitStateFor(paths: SpoolPaths, relay: string): LimitState | null {
  try {
    fs.accessSync(path.dirname(limitsFile(paths, relay)), fs.constants.R_OK | fs.constants.X_OK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return null;
  }
  return readLimitState(paths, relay);
}
