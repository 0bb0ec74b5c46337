/**
 * End to end: mail that waits in the system spool's incoming/ (no daemon has picked it up) is
 * listed by root's and the spool owner's mailq, marked as waiting there; a planted envelope
 * cannot put terminal escapes on root's screen or pass for another user's mail.
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

before(() => {
  requireRoot();
  runner = ensureUser('obx-dq-run');
  alice = ensureUser('obx-dq-alice');
  sp = systemSpool(runner);
});
after(() => {
  sp?.cleanup();
  removeUsers(['obx-dq-run', 'obx-dq-alice']);
});

const incoming = () => path.join(sp.spool, 'incoming');

test("root's -odi without a daemon: committed into incoming/, and root's and the owner's mailq list it as waiting there", async () => {
  const r = await run(SENDMAIL, ['-odi', 'root'], { env: sp.env, input: 'Subject: for root\n\nbody\n' });
  assert.equal(r.code, 0, r.stderr);
  const a = await asUser(alice, SENDMAIL, ['-i', 'x@example.com'], { env: sp.env, input: 'Subject: alice\n\nbody\n' });
  assert.equal(a.code, 0, a.stderr);
  const envs = fs
    .readdirSync(incoming())
    .filter((n) => n.endsWith('.env'))
    .sort();
  assert.equal(envs.length, 2, 'both wait in incoming/');
  const ids = envs.map((n) => n.slice(0, 12));

  for (const q of [() => run(MAILQ, [], { env: sp.env }), () => asUser(runner, MAILQ, [], { env: sp.env })]) {
    const l = await q();
    assert.equal(l.code, 0, l.stderr);
    assert.doesNotMatch(l.stdout, /Mail queue is empty/);
    for (const id of ids) assert.match(l.stdout, new RegExp(`^${id}  +\\d+ `, 'm'));
    assert.match(l.stdout, /^ {14}\(waiting in incoming\/ to be picked up: by the queue daemon, or the next queue run \(sendmail -q\)\)$/m);
    assert.match(l.stdout, /^ +root@example\.test$/m);
    assert.match(l.stdout, /^ +x@example\.com$/m);
    assert.match(l.stdout, /^-- \d+ Kbytes in 2 Requests\.$/m);
  }
  const j = await run(MAILQ, ['--json'], { env: sp.env });
  const objs = j.stdout
    .trim()
    .split('\n')
    .map((x) => JSON.parse(x) as Record<string, any>);
  assert.deepEqual(
    objs.map((o) => o.queue_name),
    ['maildrop', 'maildrop'],
  );
  assert.deepEqual(
    objs.map((o) => o.queue_id),
    ids,
  );

  // Once picked up, the same messages are ordinary queue entries.
  const p = await run(OUTBOX, ['pickup'], { env: sp.env });
  assert.equal(p.code, 0, p.stderr);
  const after = await run(MAILQ, [], { env: sp.env });
  assert.doesNotMatch(after.stdout, /waiting in incoming/);
  assert.match(after.stdout, /in 2 Requests\./);
  assert.deepEqual(fs.readdirSync(incoming()), []);
});

test("a planted envelope shows no terminal escapes, its owner is the file's, and junk is not listed", async () => {
  // Alice writes an envelope by hand: escapes in the addresses, a lie about uid and state.
  const id = '1M8000000000';
  const name = `${id}.${'a'.repeat(32)}`;
  const envelope = JSON.stringify({
    v: 1,
    id,
    arrival: Date.now(),
    sender: 'evil\x1b]0;pwned\x07@example.com',
    recipients: [{ address: 'x\x1b[2J@example.com', status: 'sent' }],
    uid: 0,
    hold: true,
    size: 1,
  });
  const script = `printf 'body\\n' > ${incoming()}/${name} && printf '%s' '${envelope.replace(/'/g, "'\\''")}' > ${incoming()}/${name}.env`;
  const w = await asUser(alice, '/bin/sh', ['-c', script], { env: sp.env });
  assert.equal(w.code, 0, w.stderr);
  // And a symbolic link posing as an envelope.
  fs.symlinkSync('/etc/passwd', path.join(incoming(), `1M8000000001.${'b'.repeat(32)}.env`));
  const l = await run(MAILQ, ['--json'], { env: sp.env });
  assert.equal(l.code, 0, l.stderr);
  assert.doesNotMatch(l.stdout, /\x1b|\\u001b/);
  const objs = l.stdout
    .trim()
    .split('\n')
    .map((x) => JSON.parse(x) as Record<string, any>)
    .filter((o) => o.queue_id.startsWith('1M80000'));
  assert.equal(objs.length, 1, l.stdout);
  assert.equal(objs[0]!.queue_name, 'maildrop', 'no hold state taken from the envelope');
  assert.equal(objs[0]!.message_size, 5, "the size is the message file's");
  assert.equal(objs[0]!.recipients[0].address, 'x?[2J@example.com');
  const t = await run(MAILQ, [], { env: sp.env });
  assert.doesNotMatch(t.stdout, /\x1b/);
  assert.match(t.stdout, /evil\?\]0;pwned\?@example\.com/);
  fs.rmSync(path.join(incoming(), `1M8000000001.${'b'.repeat(32)}.env`));
});
