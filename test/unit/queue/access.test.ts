/** Unit tests of queue/access.ts: who sees which message, and who has to ask the daemon. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mustAskDaemon, visibleTo } from '../../../src/queue/access.js';
import type { Config } from '../../../src/config/config.js';

test('visibleTo: everyone sees everything on a per-user spool; on the system spool root, the owner, and the submitter', () => {
  const sys = { system: true, spool: '/nonexistent' } as Config;
  const own = { system: false, spool: '/nonexistent' } as Config;
  assert.equal(visibleTo({ uid: 1000 }, 1001, own), true);
  assert.equal(visibleTo({ uid: 1000 }, 1000, sys, 999), true, 'the submitter');
  assert.equal(visibleTo({ uid: 1000 }, 0, sys, 999), true, 'root');
  assert.equal(visibleTo({ uid: 1000 }, 999, sys, 999), true, 'the spool owner');
  assert.equal(visibleTo({ uid: 1000 }, 1001, sys, 999), false, 'another user');
});

test('mustAskDaemon: only a user of the system spool who is not its owner and cannot read ctl/', () => {
  const spool = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-access-'));
  try {
    fs.mkdirSync(path.join(spool, 'ctl'), { mode: 0o700 });
    const owner = fs.statSync(spool).uid;
    const sys = { system: true, spool } as Config;
    assert.equal(mustAskDaemon({ system: false, spool } as Config, owner + 1), false, 'a per-user spool');
    assert.equal(mustAskDaemon(sys, 0), false, 'root');
    assert.equal(mustAskDaemon(sys, owner), false, 'the owner');
    // This process can read ctl/ (root, or the owner of the temporary spool): it works directly.
    assert.equal(mustAskDaemon(sys, owner + 1), false, 'ctl/ readable');
    assert.equal(mustAskDaemon({ system: true, spool: path.join(spool, 'none') } as Config, 1000), false, 'no spool: nobody to ask');
  } finally {
    fs.rmSync(spool, { recursive: true, force: true });
  }
});
