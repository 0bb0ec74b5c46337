import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAddress, splitAddressList, formatDisplayName, addressKey, isDomain, isMailbox, bareAddress } from '../../../src/message/address.js';

test('address lists: commas, display names, quotes, comments, groups', () => {
  assert.deepEqual(splitAddressList('a@x, b@y'), ['a@x', 'b@y']);
  assert.deepEqual(splitAddressList('"Doe, John" <j@x>, Name <n@y>'), ['j@x', 'n@y']);
  assert.deepEqual(splitAddressList('root'), ['root']);
  assert.deepEqual(splitAddressList('root, www-data'), ['root', 'www-data']);
  assert.deepEqual(splitAddressList('a@x (Alice), team: b@y, c@z;'), ['a@x', 'b@y', 'c@z']);
  assert.deepEqual(splitAddressList('undisclosed-recipients:;'), []);
  assert.deepEqual(splitAddressList('"quoted local"@x'), ['"quoted local"@x']);
});

test('bare names are qualified, bad addresses refused with a reason', () => {
  assert.deepEqual(checkAddress('root', 'example.com'), { ok: true, address: 'root@example.com' });
  assert.deepEqual(checkAddress('a@Example.COM', 'e'), { ok: true, address: 'a@Example.COM' });
  assert.deepEqual(checkAddress('@relay:a@x.org', 'e'), { ok: true, address: 'a@x.org' });
  for (const bad of ['a@', '@x', 'a b@x', 'a@x..y', 'a@-x', 'a..b@x', 'a@x\nb', '-oQ@x', 'a@[1.2.3]']) {
    const c = checkAddress(bad, 'example.com');
    assert.equal(c.ok, false, bad);
  }
  assert.equal(checkAddress('josé@exämple.org', 'e').ok, true);
  assert.equal(checkAddress('a@[192.0.2.1]', 'e').ok, true);
});

test('display names: bare, quoted, or RFC 2047 encoded words of at most 75 characters', () => {
  assert.equal(formatDisplayName('Cron Daemon'), 'Cron Daemon');
  assert.equal(formatDisplayName('Doe, J.'), '"Doe, J."');
  const enc = formatDisplayName('Zoë Ünïcødé '.repeat(8));
  for (const w of enc.split(' ')) {
    assert.match(w, /^=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=$/);
    assert.ok(w.length <= 75);
  }
});

test('addressKey: domain case-insensitive, local part not', () => {
  assert.equal(addressKey('A@X.ORG'), 'A@x.org');
  assert.notEqual(addressKey('A@x.org'), addressKey('a@x.org'));
});

test('syntax checks of the configuration: isDomain, isMailbox, bareAddress', () => {
  for (const d of ['example.com', 'mail.example.com.', 'localhost', 'xn--bcher-kva.example', 'bücher.example']) assert.ok(isDomain(d), d);
  for (const d of ['', '-a.example', 'a..example', 'a_b.example', 'a.example/x', `${'a'.repeat(64)}.example`]) assert.ok(!isDomain(d), d);
  for (const m of ['a@example.com', '"a b"@example.com', 'a+tag@example.com']) assert.ok(isMailbox(m), m);
  for (const m of ['a', '@example.com', 'a b@example.com', 'a@', 'a@-x', 'Name <a@example.com>']) assert.ok(!isMailbox(m), m);
  assert.equal(bareAddress('Name <a@example.com> '), 'a@example.com');
  assert.equal(bareAddress(' a@example.com'), 'a@example.com');
});
