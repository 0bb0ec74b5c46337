/**
 * Sending limits, the pure parts: rate parsing, presets (config/limits.ts), and when a daily
 * quota lets the next message go (runner/limits.ts dailyBlock). The engine with a moved clock
 * is in engine.test.ts, the rate across processes in test/e2e/limits.test.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { parseRate, relayLimits } from '../../../src/config/limits.js';
import { DAY_MS, dailyBlock, limitReport, pauseRelay, reserve } from '../../../src/runner/limits.js';
import { ensureSpool } from '../../../src/spool/spool.js';
import { limitOf } from '../../../src/queue/mailq.js';
import type { ControlRecord } from '../../../src/spool/format.js';

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
    assert.deepEqual(relayLimits({ limits: 'ses-sandbox', rate: '14/s', dailyMessages: 50_000 }), {
      rate: '14/s',
      intervalMs: 1000 / 14,
      dailyMessages: 50_000,
    });
    assert.equal(relayLimits({}), undefined);
  });
});

describe('limits: the rolling daily window', () => {
  const t0 = 1_800_000_000_000;
  it('under the limit: no block', () => {
    assert.equal(
      dailyBlock(
        'main',
        { dailyMessages: 3 },
        [
          [t0, 1],
          [t0 + 1, 1],
        ],
        1,
        t0 + 2,
      ),
      null,
    );
  });
  it('over daily_messages: due when the oldest send leaves the window', () => {
    const b = dailyBlock(
      'main',
      { dailyMessages: 2 },
      [
        [t0 + 5, 1],
        [t0, 1],
      ],
      1,
      t0 + 10,
    );
    assert.equal(b?.until, t0 + DAY_MS);
    assert.match(b!.reason, /^daily quota: 2 of 2 messages in 24 h sent through relay main; due at /);
  });
  it('over daily_recipients: due when enough recipients have left the window', () => {
    const b = dailyBlock(
      'main',
      { dailyRecipients: 10 },
      [
        [t0, 3],
        [t0 + 1, 3],
        [t0 + 2, 4],
      ],
      5,
      t0 + 3,
    );
    assert.equal(b?.until, t0 + 1 + DAY_MS);
  });
  it('a message with more recipients than the whole limit goes when the window is empty', () => {
    assert.equal(dailyBlock('main', { dailyRecipients: 10 }, [], 50, t0), null);
  });
});

describe('limits: as outbox check and mailq --json show them', () => {
  const now = 1_800_000_000_000;
  it('usage with thousands separators and the time the window frees a message; a pause warns', () => {
    const sends: [number, number][] = Array.from({ length: 1742 }, (_, i) => [now - DAY_MS + 3 * 3600_000 + i, 1]);
    const r = limitReport(
      { dailyMessages: 2000 },
      { v: 1, sends, pause: { until: now + 1800_000, reason: 'relay w paused after a quota reply (550 5.4.5 quota); due at X', count: 1 } },
      now,
    );
    assert.deepEqual(r, [
      { level: 'info', text: 'limits: 2,000 messages a day' },
      { level: 'info', text: 'daily: 1,742 of 2,000 messages, resets in 3 h' },
      { level: 'warn', text: 'relay w paused after a quota reply (550 5.4.5 quota); due at X (in 30 min)' },
    ]);
    assert.deepEqual(limitReport({ rate: '30/min', intervalMs: 2000 }, null, now), [
      { level: 'info', text: 'limits: rate 30/min' },
      { level: 'info', text: 'limits: usage not readable by this user (run as root or the spool owner)' },
    ]);
    assert.deepEqual(limitReport(undefined, { v: 1, sends: [] }, now), []);
  });
  it('mailq --json: which limit keeps a message, on which relay, due when', () => {
    const rec = (reason: string) =>
      ({ id: 'X', nextAttempt: now, recipients: [{ address: 'a@example.com', status: 'deferred', reason }] }) as unknown as ControlRecord;
    assert.deepEqual(limitOf(rec('rate limit: relay m365 allows 30/min; due at X')), { kind: 'rate_limit', relay: 'm365', due: now / 1000 });
    assert.deepEqual(limitOf(rec('daily quota: 500 of 500 messages in 24 h sent through relay gmail; due at X')), {
      kind: 'daily_quota',
      relay: 'gmail',
      due: now / 1000,
    });
    assert.deepEqual(limitOf(rec('relay ses paused after a quota reply (454 Throttling failure); due at X')), {
      kind: 'paused',
      relay: 'ses',
      due: now / 1000,
    });
    assert.equal(limitOf(rec('connect to h: refused')), undefined);
  });
});

describe('limits: the rate across reservations (spool state)', () => {
  it('near slots are waited for; later ones defer the message, each to its own turn one interval apart', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-limits-'));
    try {
      const p = ensureSpool(path.join(dir, 'spool'));
      const lim = { rate: '4/min', intervalMs: 15_000 };
      const now = 1_800_000_000_000;
      const got = [];
      for (let i = 0; i < 5; i++) got.push(await reserve(p, 'main', lim, 1, now));
      assert.deepEqual(got.slice(0, 3), [
        { at: now, recorded: false },
        { at: now + 15_000, recorded: false },
        { at: now + 30_000, recorded: false },
      ]);
      assert.deepEqual(
        got.slice(3).map((g) => ('until' in g ? g.until : null)),
        [now + 45_000, now + 60_000],
      );
      assert.match((got[3] as { reason: string }).reason, /^rate limit: relay main allows 4\/min; due at /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('limits: the quota pause (spool state)', () => {
  it('until the daily window frees a message when it is full; else 1 h, 2 h, 4 h while the quota replies go on', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-limits-'));
    try {
      const p = ensureSpool(path.join(dir, 'spool'));
      const now = 1_800_000_000_000;
      const daily = { dailyMessages: 2 };
      await reserve(p, 'full', daily, 1, now - 5000);
      await reserve(p, 'full', daily, 1, now - 4000);
      assert.equal((await pauseRelay(p, 'full', daily, '550 5.4.5 quota', now)).until, now - 5000 + DAY_MS);
      // A relay whose real quota is below the configured one, or without limits: a growing backoff.
      const first = await pauseRelay(p, 'r', undefined, '454 Throttling failure', now);
      assert.equal(first.until, now + 3600_000);
      assert.match(first.reason, /^relay r paused after a quota reply \(454 Throttling failure\); due at /);
      assert.equal((await pauseRelay(p, 'r', undefined, 'again', now + 10)).until, now + 3600_000, 'one pause while it lasts');
      const second = await pauseRelay(p, 'r', undefined, 'again', first.until + 1);
      assert.equal(second.until, first.until + 1 + 2 * 3600_000);
      assert.equal((await pauseRelay(p, 'r', undefined, 'again', second.until)).until, second.until + 4 * 3600_000);
      assert.deepEqual(await reserve(p, 'r', undefined, 1, second.until + 10), {
        until: second.until + 4 * 3600_000,
        reason: (await pauseRelay(p, 'r', undefined, 'x', second.until + 10)).reason,
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
