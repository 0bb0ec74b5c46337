import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration } from '../../src/duration.js';

test('durations: each unit, a bare number in the unit the caller names', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('15m'), 900_000);
  assert.equal(parseDuration('12h'), 43_200_000);
  assert.equal(parseDuration('7d'), 604_800_000);
  assert.equal(parseDuration('2w'), 1_209_600_000);
  assert.equal(parseDuration('30'), 30_000);
  assert.equal(parseDuration('2', 'm'), 120_000);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration(' 30 s '), 30_000);
});

test('durations: parts add up, fractions round to the millisecond', () => {
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1h 30m'), 5_400_000);
  assert.equal(parseDuration('1d12h'), 129_600_000);
  assert.equal(parseDuration('1.5h'), 5_400_000);
  assert.equal(parseDuration('0.5'), 500);
  assert.equal(parseDuration('1.5', 'm'), 90_000);
  assert.equal(parseDuration('0.0004s'), 0);
});

test('durations: malformed, negative, upper case or unbounded values are null', () => {
  for (const bad of ['', ' ', 'd', 'soon', '2 days', '-1d', '3y', '5x', '1h30', '30S', '5M', '.5h', '1.h', '1e3s', '1h,30m', `${'9'.repeat(20)}w`]) {
    assert.equal(parseDuration(bad), null, bad);
  }
});
