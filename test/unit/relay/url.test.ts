/** The relay URL grammar and the fingerprint spelling (src/relay/url.ts). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { checkRelayUrl, normalizeFingerprint, SCHEMES } from '../../../src/relay/url.js';

it('every scheme has its default port; the aliases read as the canonical scheme', () => {
  for (const [scheme, s] of Object.entries(SCHEMES)) {
    const u = checkRelayUrl(`${scheme}://h.example.com`);
    assert.ok(!('error' in u), scheme);
    assert.equal(u.port, s.port, scheme);
    assert.equal(u.tls, s.tls, scheme);
  }
  assert.deepEqual(checkRelayUrl('submission://u@h.example.com:2525/'), {
    scheme: 'smtp+starttls',
    tls: 'starttls',
    host: 'h.example.com',
    port: 2525,
    user: 'u',
  });
});

it('refuses a path, a password, an unclosed IPv6 bracket and AUTH on smtp://', () => {
  assert.match((checkRelayUrl('smtps://h.example.com/x') as { error: string }).error, /no path/);
  assert.match((checkRelayUrl('smtps://u:pw@h.example.com') as { error: string }).error, /holds a password/);
  assert.match((checkRelayUrl('smtps://[::1') as { error: string }).error, /unclosed/);
  assert.match((checkRelayUrl('smtp://u@h.example.com') as { error: string }).error, /never authenticates/);
});

it('one fingerprint spelling: with or without colons, any case, sha256: prefix -> "AA:BB:.."', () => {
  const hex = 'ab'.repeat(32);
  const want = 'AB:'.repeat(31) + 'AB';
  for (const f of [hex, hex.toUpperCase(), want, want.toLowerCase(), `sha256:${hex}`, `SHA256/${want}`]) assert.equal(normalizeFingerprint(f), want, f);
  assert.equal(normalizeFingerprint(hex.slice(2)), null);
  assert.equal(normalizeFingerprint('zz'.repeat(32)), null);
});
