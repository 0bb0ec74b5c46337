/** Unit tests: the listener's per-address AUTH throttle and the sender/login rule (smtpin/auth.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthThrottle, senderLoginMismatch } from '../../../src/smtpin/auth.js';

test('AuthThrottle: growing delays, blocked after 5 failures, per address, forgotten after the window or a success', () => {
  let now = 1_000_000;
  const t = new AuthThrottle(() => now);
  const delays = Array.from({ length: 5 }, () => t.failed('192.0.2.1'));
  assert.deepEqual(delays, [200, 400, 800, 1600, 3200]);
  assert.match(t.blocked('192.0.2.1')!, /too many authentication failures from 192\.0\.2\.1/);
  assert.equal(t.blocked('192.0.2.2'), null, 'another address is not affected');
  for (let i = 0; i < 10; i++) t.failed('192.0.2.3');
  assert.equal(t.failed('192.0.2.3'), AuthThrottle.MAX_DELAY_MS, 'the delay is capped');
  now += AuthThrottle.WINDOW_MS;
  assert.equal(t.blocked('192.0.2.1'), null, 'failures older than the window are forgotten');
  t.failed('192.0.2.4');
  t.succeeded('192.0.2.4');
  assert.equal(t.failed('192.0.2.4'), 200, 'a success starts over');
});

test('AuthThrottle: memory stays bounded whatever the number of addresses', () => {
  const t = new AuthThrottle(() => 0);
  for (let i = 0; i < AuthThrottle.MAX_ADDRESSES + 500; i++) t.failed(`10.0.${i >> 8}.${i & 255}`);
  assert.ok((t as unknown as { failures: Map<string, number[]> }).failures.size <= AuthThrottle.MAX_ADDRESSES);
});

test('senderLoginMismatch: own address at a local domain, or exactly the login address; never the null sender', () => {
  const domains = ['example.test', 'host.example.test'];
  assert.equal(senderLoginMismatch('alice@example.test', 'alice', domains), null);
  assert.equal(senderLoginMismatch('Alice@HOST.example.test', 'alice', domains), null);
  assert.match(senderLoginMismatch('bob@example.test', 'alice', domains)!, /<bob@example\.test> is not owned by user alice/);
  assert.ok(senderLoginMismatch('alice@evil.example', 'alice', domains));
  assert.ok(senderLoginMismatch('', 'alice', domains));
  assert.equal(senderLoginMismatch('me@gmail.example', 'me@gmail.example', domains), null);
  assert.ok(senderLoginMismatch('you@gmail.example', 'me@gmail.example', domains));
});
