/** Unit tests of aliases(5) parsing and recipient expansion (src/config/aliases.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expandRecipientTraced, parseAliases, localName, aliasErrorExit } from '../../../src/config/aliases.js';
import type { Config } from '../../../src/config/config.js';

const TEXT = `# /etc/aliases
postmaster:    root
Root: admin@example.org,
      ops
ops:  \\ops, oncall@example.org
# comment between entries
team: alice, bob@example.net,  "carol@example.net"
gone: error:nouser This address is no longer in use; write to office@example.com
busy: error:4.2.1:450 Try again later
pipe: |/usr/bin/procmail
file: /var/mail/file
inc: :include:/etc/mail/list
loop1: loop2
loop2: loop1
broken line without colon
dup: a@example.org
dup: b@example.org
`;

const config = { hostname: 'host.example.com', domain: 'example.com', localDomains: ['other.example.com'] } as Config;
const table = parseAliases(TEXT, '/etc/aliases');
const expand = (a: string) => expandRecipientTraced(config, a, table);

describe('aliases file', () => {
  it('parses lists, continuation lines, comments, quotes, case-insensitive names', () => {
    assert.deepEqual(table.entries.get('root')!.targets, [
      { kind: 'address', value: 'admin@example.org' },
      { kind: 'address', value: 'ops' },
    ]);
    assert.equal(table.entries.get('root')!.line, 3);
    assert.deepEqual(
      table.entries.get('team')!.targets.map((t) => (t as { value: string }).value),
      ['alice', 'bob@example.net', 'carol@example.net'],
    );
  });

  it('reports problems by line: pipes, files, :include:, syntax, duplicates', () => {
    const byLine = new Map(table.problems.map((p) => [p.line, p.message]));
    assert.match(byLine.get(10)!, /alias "pipe": .*pipes to commands are not supported.*null client/);
    assert.match(byLine.get(11)!, /delivery to files is not supported/);
    assert.match(byLine.get(12)!, /:include: files are not supported/);
    assert.match(byLine.get(15)!, /expected "name: target/);
    assert.match(byLine.get(17)!, /duplicate alias "dup" \(first defined on line 16/);
    assert.equal(table.problems.length, 5);
  });

  it('expands recursively, stops at \\name, qualifies local names', () => {
    const r = expand('postmaster');
    assert.ok('addresses' in r);
    assert.deepEqual(r.addresses, ['admin@example.org', 'ops@example.com', 'oncall@example.org']);
    assert.ok(r.trace.some((l) => /alias "postmaster" \(\/etc\/aliases:2\) -> root/.test(l)));
  });

  it('treats user@<hostname>, @localhost and local_domains as local', () => {
    for (const a of ['root@host.example.com', 'ROOT@localhost', 'root@other.example.com', 'root@HOST.example.com']) {
      const r = expand(a);
      assert.ok('addresses' in r, a);
      assert.deepEqual(r.addresses, ['admin@example.org', 'ops@example.com', 'oncall@example.org'], a);
    }
    assert.equal(localName(config, 'root@example.com'), null);
  });

  it('leaves remote addresses and unaliased names alone (qualified)', () => {
    assert.deepEqual((expand('root@example.com') as { addresses: string[] }).addresses, ['root@example.com']);
    assert.deepEqual((expand('www-data') as { addresses: string[] }).addresses, ['www-data@example.com']);
    assert.deepEqual((expand('nobody@host.example.com') as { addresses: string[] }).addresses, ['nobody@example.com']);
  });

  it('error: entries refuse with their text and a matching exit status', () => {
    const r = expand('gone');
    assert.ok('error' in r);
    assert.equal(r.error, 'gone: This address is no longer in use; write to office@example.com');
    assert.equal(r.exitCode, 67);
    const b = expand('busy@localhost');
    assert.ok('error' in b);
    assert.equal(b.exitCode, 75);
    assert.equal(aliasErrorExit('unavailable'), 69);
  });

  it('pipes, files and :include: refuse the address clearly (78)', () => {
    for (const n of ['pipe', 'file', 'inc']) {
      const r = expand(n);
      assert.ok('error' in r, n);
      assert.equal(r.exitCode, 78);
      assert.match(r.error, /not supported \(Outbox is a null client/);
    }
  });

  it('alias loops end at the name already expanded', () => {
    const r = expand('loop1');
    assert.ok('addresses' in r);
    assert.deepEqual(r.addresses, ['loop1@example.com']);
  });

  it('bad addresses are refused with 65', () => {
    const r = expand('a b@example.com');
    assert.ok('error' in r);
    assert.equal(r.exitCode, 65);
  });
});
