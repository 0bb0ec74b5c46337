/** Unit tests: spool/usage.ts, per-user limits and the report for `outbox check --queue`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_LIMITS, addUsage, overLimit, usageReport, userLimits, type UsageTable } from '../../../src/spool/usage.js';

test('defaults, and 0 = no limit', () => {
  assert.deepEqual(userLimits({}), DEFAULT_LIMITS);
  const l = userLimits({ maxPendingPerUser: 0, maxQueuedMessagesPerUser: 0, maxQueuedBytesPerUser: 0 });
  const t: UsageTable = new Map();
  for (let i = 0; i < 100; i++) addUsage(t, 1000, 1e9);
  assert.equal(overLimit(t, 1000, 1e9, l), null);
});

test('overLimit: messages, then bytes, per uid', () => {
  const l = { maxPending: 10, maxMessages: 2, maxBytes: 1000 };
  const t: UsageTable = new Map();
  assert.equal(overLimit(t, 1000, 400, l), null);
  addUsage(t, 1000, 400);
  assert.match(overLimit(t, 1000, 700, l)!, /uid 1000 has 400 bytes queued, 700 more would exceed max_queued_bytes_per_user = 1000/);
  addUsage(t, 1000, 100);
  assert.match(overLimit(t, 1000, 1, l)!, /uid 1000 already has 2 messages queued \(max_queued_messages_per_user = 2\)/);
  assert.equal(overLimit(t, 1001, 1000, l), null, 'another uid has its own share');
});

test('usageReport: users at 80 % of a limit or more, fullest first, at most 5', () => {
  const l = { maxPending: 10, maxMessages: 100, maxBytes: 1000 };
  const t: UsageTable = new Map();
  for (let i = 0; i < 85; i++) addUsage(t, 1000, 1);
  addUsage(t, 1001, 990);
  addUsage(t, 1002, 10);
  const names: Record<number, string> = { 1000: 'alice', 1001: 'bob' };
  assert.deepEqual(
    usageReport(t, l, (u) => names[u] ?? `uid${u}`),
    ['uid 1001 (bob): 1 messages (1% of 100), 990 bytes (99% of 1000) queued', 'uid 1000 (alice): 85 messages (85% of 100), 85 bytes (8% of 1000) queued'],
  );
  for (let u = 0; u < 10; u++) addUsage(t, 2000 + u, 999);
  assert.equal(usageReport(t, l, String).length, 5);
});
