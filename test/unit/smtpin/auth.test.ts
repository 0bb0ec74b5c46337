/** Unit tests of smtpin/auth.ts: scrypt entries, the users file format and its permissions. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { hashPassword, parseHash, parseUsers, UsersFile, verifyHash } from '../../../src/smtpin/auth.js';
import { OutboxError } from '../../../src/sysexits.js';

describe('auth users', () => {
  it('hashes and verifies passwords', async () => {
    const h = await hashPassword('pässword');
    assert.match(h, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.equal(await verifyHash('pässword', h), true);
    assert.equal(await verifyHash('password', h), false);
    assert.notEqual(await hashPassword('pässword'), h, 'salted');
  });

  it('refuses unbounded or malformed parameters', () => {
    assert.equal(parseHash('scrypt$2097152$8$1$c2FsdA==$' + 'A'.repeat(44)), null);
    assert.equal(parseHash('scrypt$1000$8$1$c2FsdA==$' + 'A'.repeat(44)), null);
    assert.equal(parseHash('md5$x'), null);
    assert.throws(
      () => parseUsers('# c\n\nbob\n', 'f'),
      (e: unknown) => e instanceof OutboxError && e.exitCode === 78 && /f:3:/.test(e.message),
    );
  });

  it('reads the file, refuses group/world-readable files, re-reads on change', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-auth-'));
    try {
      const f = path.join(dir, 'users');
      fs.writeFileSync(f, `alice:${await hashPassword('a')}\n`, { mode: 0o600 });
      const u = new UsersFile(f);
      assert.equal(await u.verify('alice', 'a'), true);
      assert.equal(await u.verify('alice', 'b'), false);
      assert.equal(await u.verify('nobody', 'a'), false);
      fs.writeFileSync(f, `bob:${await hashPassword('b')}\n`);
      fs.utimesSync(f, new Date(), new Date(Date.now() + 5000));
      assert.equal(await u.verify('bob', 'b'), true);
      assert.equal(await u.verify('alice', 'a'), false);
      fs.chmodSync(f, 0o640);
      assert.throws(() => new UsersFile(f), /must not be readable/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
