/**
 * Sending limits, the pure parts: rate parsing, presets (config/limits.ts), and when a daily
 * quota lets the next message go (runner/limits.ts dailyBlock). The engine with a moved clock
 * is in engine.test.ts, the rate across processes in test/e2e/limits.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRate, relayLimits } from '../../../src/config/limits.js';
import { DAY_MS, dailyBlock } from '../../../src/runner/limits.js';

describe('limits: configuration', () => {
  it('parses rates into a spacing', () => {
    assert.equal(parseRate('30/min'), 2000);
    assert.equal(parseRate('1/s'), 1000);
    assert.equal(parseRate('5/s'), 200);
    assert.equal(parseRate('100/hour'), 36_000);
    assert.equal(parseRate(' 2000 / day '), 43_200);
    for (const bad of ['', '30', '0/s', '-1/s', '5/fortnight', 'x/s']) assert.equal(parseRate(bad), null, bad);
  });
  it('presets follow the providers; the explicit keys override them', () => {
    assert.deepEqual(relayLimits({ limits: 'gmail' }), { dailyMessages: 500 });
    assert.deepEqual(relayLimits({ limits: 'workspace' }), { dailyMessages: 2000 });
    assert.deepEqual(relayLimits({ limits: 'microsoft365' }), { rate: '30/min', intervalMs: 2000, dailyRecipients: 10_000 });
    assert.deepEqual(relayLimits({ limits: 'ses-sandbox' }), { rate: '1/s', intervalMs: 1000, dailyMessages: 200 });
    assert.deepEqual(relayLimits({ limits: 'ses-sandbox', rate: '14/s', dailyMessages: 50_000 }), { rate: '14/s', intervalMs: 1000 / 14, dailyMessages: 50_000 });
    assert.equal(relayLimits({}), undefined);
  });
});

describe('limits: the rolling daily window', () => {
  const t0 = 1_800_000_000_000;
  it('under the limit: no block', () => {
    assert.equal(dailyBlock('main', { dailyMessages: 3 }, [[t0, 1], [t0 + 1, 1]], 1, t0 + 2), null);
  });
  it('over daily_messages: due when the oldest send leaves the window', () => {
    const b = dailyBlock('main', { dailyMessages: 2 }, [[t0 + 5, 1], [t0, 1]], 1, t0 + 10);
    assert.equal(b?.until, t0 + DAY_MS);
    assert.match(b!.reason, /^daily quota: 2 of 2 messages in 24 h sent through relay main; due at /);
  });
  it('over daily_recipients: due when enough recipients have left the window', () => {
    const b = dailyBlock('main', { dailyRecipients: 10 }, [[t0, 3], [t0 + 1, 3], [t0 + 2, 4]], 5, t0 + 3);
    assert.equal(b?.until, t0 + 1 + DAY_MS);
  });
  it('a message with more recipients than the whole limit goes when the window is empty', () => {
    assert.equal(dailyBlock('main', { dailyRecipients: 10 }, [], 50, t0), null);
  });
});
