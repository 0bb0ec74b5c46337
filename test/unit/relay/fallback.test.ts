/** Unit tests: relay/fallback.ts, which fallbacks are weaker than their primary. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fallbackWarnings, weakerFallback } from '../../../src/relay/fallback.js';

const r = (name: string, url: string, extra: object = {}) => ({ name, url, ...extra });
const PIN = ['ab'.repeat(32)];

test('plain < starttls = smtps < pinned; equal or stronger is never weaker', () => {
  const plain = r('p', 'smtp://relay:25');
  const starttls = r('s', 'smtp+starttls://u@relay:587');
  const bare = r('b', 'relay:587');
  const smtps = r('t', 'smtps://u@relay:465');
  const pinned = r('x', 'smtps://u@relay:465', { fingerprints: PIN });
  assert.match(
    weakerFallback(plain, starttls)!,
    /^fallback p \(plain SMTP without TLS\) is weaker than relay s \(TLS verified by CAs without a certificate pin\)$/,
  );
  assert.match(weakerFallback(plain, bare)!, /plain SMTP without TLS/);
  assert.match(weakerFallback(starttls, pinned)!, /is weaker than relay x \(TLS with a pinned certificate\)/);
  assert.equal(weakerFallback(starttls, smtps), null);
  assert.equal(weakerFallback(smtps, starttls), null);
  assert.equal(weakerFallback(pinned, starttls), null);
  assert.equal(weakerFallback(plain, plain), null);
  assert.equal(weakerFallback(r('c', 'smtp+starttls://u@relay:587', { caFile: '/x' }), starttls), null, 'ca_file is not ranked');
});

test('config check warnings: one per weaker fallback', () => {
  const relays = {
    main: r('main', 'smtp+starttls://u@relay:587', { fallbacks: ['p', 'q'] }),
    p: r('p', 'smtp://relay2:25'),
    q: r('q', 'smtps://u@relay3:465'),
  };
  const w = fallbackWarnings(relays);
  assert.equal(w.length, 1);
  assert.match(w[0]!, /^relay\.main\.fallbacks: fallback p \(plain SMTP without TLS\) is weaker/);
});
