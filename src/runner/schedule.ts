/**
 * runner/schedule.ts — when to try a deferred message again, and when to give up. Pure.
 *
 * The retry policy is data (DeliverySettings, with Postfix-like defaults): the delay after the
 * Nth failed attempt is retryScheduleMs[N-1] (the last entry repeats), plus up to `retryJitter`
 * of it at random so that a queue that failed together does not retry in lockstep. After
 * maxQueueLifetimeMs in the queue a message is given up (bounced), except while its last problem
 * is a configuration problem (see classify.ts), which is never bounced. Time held for a
 * configuration problem (a wrong password, a refused sender: `configMs` + the open `configSince`
 * span) does not count towards the lifetime: mail that piled up during a wrong-password week is
 * delivered, not expired, once the password is fixed (lifetimeStart()). Quota and throttling
 * replies wait at least QUOTA_WAIT_MS. The next attempt is persisted in the control record, so a
 * restart keeps the schedule.
 */
import type { DeliverySettings } from '../config/types.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export interface RetryPolicy {
  retryScheduleMs: number[];
  retryJitter: number;
  maxQueueLifetimeMs: number;
  delayWarningMs: number;
}

/** 5, 10, 20, 40 minutes, then hourly; 5 days; no delay warning unless configured. */
export const DEFAULT_POLICY: RetryPolicy = {
  retryScheduleMs: [5 * MINUTE, 10 * MINUTE, 20 * MINUTE, 40 * MINUTE, HOUR],
  retryJitter: 0.1,
  maxQueueLifetimeMs: 5 * 24 * HOUR,
  delayWarningMs: 0,
};

export function retryPolicy(s: DeliverySettings | undefined): RetryPolicy {
  const schedule = s?.retryScheduleMs?.filter((n) => Number.isFinite(n) && n >= 0);
  return {
    retryScheduleMs: schedule && schedule.length > 0 ? schedule : DEFAULT_POLICY.retryScheduleMs,
    retryJitter: Math.min(1, Math.max(0, s?.retryJitter ?? DEFAULT_POLICY.retryJitter)),
    maxQueueLifetimeMs: s?.maxQueueLifetimeMs ?? DEFAULT_POLICY.maxQueueLifetimeMs,
    delayWarningMs: s?.delayWarningMs ?? DEFAULT_POLICY.delayWarningMs,
  };
}

/** The shortest wait after a quota or throttling reply (a daily quota is not back in 5 minutes). */
export const QUOTA_WAIT_MS = HOUR;

/**
 * Where the queue lifetime of a message starts: its arrival, moved later by the time it was held
 * for configuration problems. `configSince` (held now) counts up to `now`. Pure.
 */
export function lifetimeStart(rec: { arrival: number; configMs?: number; configSince?: number }, now: number): number {
  const open = rec.configSince !== undefined && rec.configSince <= now ? now - rec.configSince : 0;
  return rec.arrival + Math.max(0, rec.configMs ?? 0) + open;
}

export type Next = { retryAt: number } | { giveUp: true };

/**
 * After `attempts` failed attempts (>= 1) of a message whose lifetime started at `firstSeen`
 * (lifetimeStart()), at `now`: the next attempt time, or give up. `random` returns [0, 1);
 * `slow`: a quota or throttling reply (at least QUOTA_WAIT_MS).
 */
export function nextAttempt(policy: RetryPolicy, attempts: number, firstSeen: number, now: number, random: () => number = Math.random, slow = false): Next {
  if (now - firstSeen >= policy.maxQueueLifetimeMs) return { giveUp: true };
  const table = policy.retryScheduleMs;
  const step = table[Math.min(Math.max(attempts, 1), table.length) - 1]!;
  const base = slow ? Math.max(step, QUOTA_WAIT_MS) : step;
  const at = now + base + Math.floor(base * policy.retryJitter * random());
  return { retryAt: at };
}

/** Is a delay warning due for a message (not yet warned, old enough, not given up)? */
export function delayWarningDue(policy: RetryPolicy, firstSeen: number, now: number, warned: boolean): boolean {
  return policy.delayWarningMs > 0 && !warned && now - firstSeen >= policy.delayWarningMs;
}
