/**
 * End to end: a user's private spool, left behind when the machine gets a system queue, is
 * named once (stderr) by the user's sendmail/mailq, and `outbox migrate-spool` moves its
 * messages into the system queue with their envelopes intact (held ones stay).
 * Needs root (users are created with useradd; run under /tmp/outbox-system.lock).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAILQ, OUTBOX, SENDMAIL, run } from '../helpers/run.js';
import { asUser, ensureUser, removeUsers, requireRoot, systemSpool, type TestUser } from '../helpers/users.js';

let runner: TestUser;
let alice: TestUser;
let sp: ReturnType<typeof systemSpool>;
let home = '';

before(() => {
  requireRoot();
  runner = ensureUser('obx-mg-run');
  alice = ensureUser('obx-mg-alice');
  sp = systemSpool(runner);
  home = path.join(sp.dir, 'home-alice');
  fs.mkdirSync(home, { mode: 0o700 });
  fs.chownSync(home, alice.uid, alice.gid);
});
after(() => {
  sp?.cleanup();
  removeUsers(['obx-mg-run', 'obx-mg-alice']);
});

const privateSpool = () => path.join(home, '.local', 'state', 'outbox');
const ls = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d).sort() : []);

test('the private spool is named once, and migrate-spool moves its messages with their envelopes', async () => {
  // Before the system installation: alice's mail went into her private spool (here named
  // explicitly, so that this machine's own /etc/outbox does not matter).
  const priv = { HOME: home, OUTBOX_SPOOL: privateSpool() };
  const a = await asUser(alice, SENDMAIL, ['-odq', '-f', 'alice@example.com', '-N', 'failure', '-R', 'hdrs', '-V', 'env-1', 'a@example.com', 'b@example.com'], {
    env: priv,
    input: 'Subject: one\n\nfirst\n',
  });
  assert.equal(a.code, 0, a.stderr);
  const b = await asUser(alice, SENDMAIL, ['-odq', '-f', '', 'c@example.com'], { env: priv, input: 'Subject: two\n\nsecond\n' });
  assert.equal(b.code, 0, b.stderr);
  const c = await asUser(alice, SENDMAIL, ['-odq', 'held@example.com'], { env: priv, input: 'Subject: three\n\nthird\n' });
  assert.equal(c.code, 0, c.stderr);
  const ids = ls(path.join(privateSpool(), 'ctl'));
  assert.equal(ids.length, 3);
  const held = ids[2]!;
  const h = await asUser(alice, OUTBOX, ['queue', 'hold', held], { env: priv });
  assert.equal(h.code, 0, h.stderr);
  const before = Object.fromEntries(ids.map((id) => [id, JSON.parse(fs.readFileSync(path.join(privateSpool(), 'ctl', id), 'utf8'))]));
  const bytes = Object.fromEntries(ids.map((id) => [id, fs.readFileSync(path.join(privateSpool(), 'msg', id), 'latin1')]));

  // Now the machine has a system queue: the first sendmail says so, once.
  const sys = { ...sp.env, HOME: home };
  const first = await asUser(alice, SENDMAIL, ['-i', 'new@example.com'], { env: sys, input: 'Subject: new\n\nnew\n' });
  assert.equal(first.code, 0, first.stderr);
  assert.equal(
    first.stderr,
    `sendmail: note: your private queue ${privateSpool()} still holds 3 messages, which nothing delivers now that this machine has a system queue (${sp.spool}); move them there with: outbox migrate-spool (this note is shown once)\n`,
  );
  const second = await asUser(alice, SENDMAIL, ['-i', 'new2@example.com'], { env: sys, input: 'Subject: new\n\nnew\n' });
  assert.equal(second.code, 0);
  assert.equal(second.stderr, '', 'only once');
  const q = await asUser(alice, MAILQ, [], { env: sys });
  assert.doesNotMatch(q.stderr, /private queue/);

  const m = await asUser(alice, OUTBOX, ['migrate-spool'], { env: sys });
  assert.equal(m.code, 0, m.stderr);
  assert.match(m.stdout, new RegExp(`^${ids[0]}: moved to the system queue as [0-9A-Z]{12}$`, 'm'));
  assert.match(m.stdout, new RegExp(`^${ids[1]}: moved to the system queue as [0-9A-Z]{12}$`, 'm'));
  assert.match(m.stdout, new RegExp(`^${held}: on hold, not moved \\(release it first: `, 'm'));
  assert.match(m.stdout, /^2 messages moved from .* to /m);
  assert.deepEqual(ls(path.join(privateSpool(), 'ctl')), [held], 'the held one stays');
  assert.deepEqual(ls(path.join(privateSpool(), 'msg')), [held]);

  // The runner picks them up as it does any user's drop: the envelopes are the old ones.
  const p = await run(OUTBOX, ['pickup'], { env: sp.env });
  assert.equal(p.code, 0, p.stderr);
  const recs = ls(path.join(sp.spool, 'ctl')).map((id) => JSON.parse(fs.readFileSync(path.join(sp.spool, 'ctl', id), 'utf8')) as Record<string, any>);
  assert.equal(recs.length, 4);
  for (const old of [before[ids[0]!], before[ids[1]!]]) {
    const moved = recs.find((r) => r.recipients[0].address === old.recipients[0].address)!;
    assert.ok(moved, `moved ${old.id}`);
    assert.equal(moved.sender, old.sender);
    assert.deepEqual(
      moved.recipients.map((r: any) => [r.address, r.notify]),
      old.recipients.map((r: any) => [r.address, r.notify]),
    );
    assert.equal(moved.ret, old.ret);
    assert.equal(moved.envid, old.envid);
    assert.equal(moved.uid, alice.uid);
    assert.equal(moved.arrival, old.arrival);
    assert.equal(fs.readFileSync(path.join(sp.spool, 'msg', moved.id), 'latin1'), bytes[old.id], 'the stored bytes, unchanged');
  }
  assert.equal(recs.find((r) => r.recipients[0].address === 'c@example.com')!.sender, '');
  assert.equal(recs.find((r) => r.recipients[0].address === 'a@example.com')!.envid, 'env-1');

  // Nothing left to move: a second run moves nothing and succeeds.
  const again = await asUser(alice, OUTBOX, ['migrate-spool'], { env: sys });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^0 messages moved/m);
});
