/** Retry policy as data: (attempts, firstSeen, now) -> next attempt | give up. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_POLICY, delayWarningDue, nextAttempt, retryPolicy } from '../../../src/runner/schedule.js';

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
