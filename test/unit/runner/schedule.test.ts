/** Retry policy as data: (attempts, firstSeen, now) -> next attempt | give up. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_POLICY, QUOTA_WAIT_MS, delayWarningDue, lifetimeStart, nextAttempt, retryPolicy } from '../../../src/runner/schedule.js';

const MIN = 60_000;
const noJitter = () => 0;

describe('schedule', () => {
  it('5, 10, 20, 40 minutes, then hourly', () => {
    const t0 = 1_000_000;
    const got = [1, 2, 3, 4, 5, 6, 20].map((n) => {
      const r = nextAttempt(DEFAULT_POLICY, n, t0, t0, noJitter);
      assert.ok('retryAt' in r);
      return (r.retryAt - t0) / MIN;
    });
    assert.deepEqual(got, [5, 10, 20, 40, 60, 60, 60]);
  });
  it('jitter adds at most retryJitter of the delay', () => {
    const r = nextAttempt(DEFAULT_POLICY, 1, 0, 0, () => 0.999999);
    assert.ok('retryAt' in r);
    assert.ok(r.retryAt >= 5 * MIN && r.retryAt < 5.5 * MIN);
  });
  it('gives up after the maximum queue lifetime (5 days)', () => {
    const day = 24 * 60 * MIN;
    assert.ok('retryAt' in nextAttempt(DEFAULT_POLICY, 30, 0, 5 * day - 1, noJitter));
    assert.deepEqual(nextAttempt(DEFAULT_POLICY, 30, 0, 5 * day, noJitter), { giveUp: true });
  });
  it('settings override the defaults; bad values are ignored', () => {
    const p = retryPolicy({ retryScheduleMs: [1000, 2000], retryJitter: 5, maxQueueLifetimeMs: 10_000 });
    assert.deepEqual(p.retryScheduleMs, [1000, 2000]);
    assert.equal(p.retryJitter, 1);
    assert.deepEqual(retryPolicy({ retryScheduleMs: [] }).retryScheduleMs, DEFAULT_POLICY.retryScheduleMs);
  });
  it('delay warnings only when configured, once', () => {
    assert.equal(delayWarningDue(DEFAULT_POLICY, 0, 10 * 3600_000, false), false);
    const p = retryPolicy({ delayWarningMs: 4 * 3600_000 });
    assert.equal(delayWarningDue(p, 0, 4 * 3600_000, false), true);
    assert.equal(delayWarningDue(p, 0, 4 * 3600_000, true), false);
  });
});

describe('schedule: configuration holds and quotas', () => {
  it('time held for a configuration problem does not count towards the queue lifetime', () => {
    const DAY = 86_400_000;
    const arrival = 1_000_000;
    // A week behind a wrong password, fixed now; the first ordinary failure after the fix:
    const now = arrival + 7 * DAY + MIN;
    const rec = { arrival, configMs: 7 * DAY };
    assert.equal(lifetimeStart(rec, now), arrival + 7 * DAY);
    assert.ok('retryAt' in nextAttempt(DEFAULT_POLICY, 30, lifetimeStart(rec, now), now, noJitter), 'not expired: only a minute of ordinary failure');
    // Counting from arrival (what happened before): expired at once.
    assert.ok('giveUp' in nextAttempt(DEFAULT_POLICY, 30, arrival, now, noJitter));
    // Still held (configSince open): the span up to now does not count either.
    assert.equal(lifetimeStart({ arrival, configMs: DAY, configSince: now - DAY }, now), arrival + 2 * DAY);
    // Ordinary failures before and after the hold add up: 3 days + 3 days of a 5-day lifetime.
    assert.ok('giveUp' in nextAttempt(DEFAULT_POLICY, 30, lifetimeStart({ arrival, configMs: DAY }, arrival + 7 * DAY), arrival + 7 * DAY, noJitter));
  });
  it('a quota or throttling reply waits at least an hour', () => {
    const t0 = 1_000_000;
    const n = nextAttempt(DEFAULT_POLICY, 1, t0, t0, noJitter, true);
    assert.ok('retryAt' in n && n.retryAt - t0 === QUOTA_WAIT_MS);
    const later = nextAttempt(retryPolicy({ retryScheduleMs: [2 * QUOTA_WAIT_MS] }), 1, t0, t0, noJitter, true);
    assert.ok('retryAt' in later && later.retryAt - t0 === 2 * QUOTA_WAIT_MS, 'a longer step of the table is kept');
  });
});
