import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, userSpoolProblem } from '../../../src/config/config.js';

test('no home at all: one line naming OUTBOX_SPOOL', () => {
  const p = userSpoolProblem('', 12345, '');
  assert.match(
    p ?? '',
    /^no spool for uid 12345: it has no home directory \(HOME is unset and there is no passwd entry\); set OUTBOX_SPOOL to a directory uid 12345 can write/,
  );
  assert.ok(!p!.includes('\n'));
});

test('an existing spool, or one whose nearest existing parent is writable, is fine', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-userspool-'));
  try {
    assert.equal(userSpoolProblem(dir, 1000, dir), null);
    assert.equal(userSpoolProblem(path.join(dir, '.local/state/outbox'), 1000, dir), null);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('loadConfig: OUTBOX_SPOOL settles it even without a home', () => {
  const c = loadConfig({ env: { OUTBOX_SPOOL: '/some/spool' }, uid: 12345, home: '' });
  assert.equal(c.spool, '/some/spool');
});
