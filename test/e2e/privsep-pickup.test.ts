/**
 * End to end: what a local user can try against pickup (issue 11 H2 and M3), on a system spool
 * made by scripts/package/mkspool.sh and owned by a runner user, with real unprivileged users (setpriv):
 *   - sparse files in incoming/ (no blocks charged to the user) copied dense into msg/;
 *   - drops written by hand, skipping sendmail's content checks (NUL, bare CR, bad headers);
 *   - more queued messages or bytes than a user's share; a burst of entries;
 *   - junk in incoming/: 20,000 names, a future mtime, a directory, a FIFO.
 * Needs root (CI runs as root): users are created with useradd and removed afterwards.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OUTBOX, SENDMAIL, run, sleep } from '../helpers/run.js';
import { asUser, ensureUser, removeUsers, requireRoot, systemSpool, writeDropEnvelope, type TestUser } from '../helpers/users.js';

const USERS = ['obx-prun', 'obx-palice', 'obx-pbob'];
let runner: TestUser;
let alice: TestUser;
let bob: TestUser;
const spools: ReturnType<typeof systemSpool>[] = [];

before(() => {
  requireRoot();
  runner = ensureUser(USERS[0]!);
  alice = ensureUser(USERS[1]!);
  bob = ensureUser(USERS[2]!);
});

after(() => {
  for (const s of spools) s.cleanup();
  removeUsers(USERS);
});

function spool(extra = '') {
  const s = systemSpool(runner, extra);
  spools.push(s);
  return s;
}

type Spool = ReturnType<typeof spool>;
const incoming = (sp: Spool) => path.join(sp.spool, 'incoming');
const names = (sp: Spool) => fs.readdirSync(incoming(sp)).sort();
const queued = (sp: Spool) =>
  fs.readdirSync(path.join(sp.spool, 'ctl')).map((n) => JSON.parse(fs.readFileSync(path.join(sp.spool, 'ctl', n), 'utf8')) as Record<string, any>);
const msgBytes = (sp: Spool) => fs.readdirSync(path.join(sp.spool, 'msg')).reduce((sum, n) => sum + fs.statSync(path.join(sp.spool, 'msg', n)).size, 0);

async function pickup(sp: Spool) {
  const r = await asUser(runner, OUTBOX, ['pickup', '-v'], { env: sp.env, timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  return r.stderr;
}

function submit(sp: Spool, user: TestUser, rcpt: string, body = 'hello\n') {
  return asUser(user, SENDMAIL, ['-i', rcpt], { input: `Subject: to ${rcpt}\n\n${body}`, env: sp.env });
}

let n = 0;
const entryName = () => `1M9${String(++n).padStart(9, '0')}.${String(n).padStart(32, 'b')}`;

/** Plant an entry as `user`: `script` writes the message file "$1"; then its envelope. */
async function plant(sp: Spool, user: TestUser, script: string): Promise<string> {
  const name = entryName();
  const file = path.join(incoming(sp), name);
  const w = await asUser(user, 'sh', ['-c', script, 'sh', file]);
  assert.equal(w.code, 0, w.stderr);
  const size = fs.statSync(file).size;
  await writeDropEnvelope(user, file, size);
  return name;
}

const refusal = (log: string, name: string) => log.split('\n').find((l) => l.includes(`refused incoming/${name}`)) ?? '';

test('H2: sparse files are refused before anything is copied dense into msg/', async () => {
  const sp = spool();
  const sparse: string[] = [];
  // Three 50 MiB files with no blocks at all, as in the report, and one with real headers and a hole after them.
  for (let i = 0; i < 3; i++) sparse.push(await plant(sp, alice, 'truncate -s 50M "$1"'));
  sparse.push(await plant(sp, alice, 'printf "Subject: holes\\n\\nbody\\n" > "$1"; truncate -s 50M "$1"'));
  for (const s of sparse) assert.ok(fs.statSync(path.join(incoming(sp), s)).blocks * 512 < 1024 * 1024, 'the planted file is sparse');
  const log = await pickup(sp);
  for (const s of sparse) assert.match(refusal(log, s), /\(uid \d+\): the message contains a NUL byte \(or a hole: a sparse file\); removed/);
  assert.match(log, /0 queued, 4 refused/);
  assert.deepEqual(queued(sp), []);
  assert.equal(msgBytes(sp), 0, 'nothing of the sparse files is left in msg/');
  assert.deepEqual(names(sp), []);
});

test("H2: hand-written drops get sendmail's content rules: NUL, bare CR in a header, a malformed header section", async () => {
  const sp = spool();
  const nul = await plant(sp, alice, 'printf "Subject: x\\n\\nbody \\000 nul\\n" > "$1"');
  const cr = await plant(sp, alice, 'printf "Subject: x\\rBcc: injected@example.com\\n\\nbody\\n" > "$1"');
  const bad = await plant(sp, alice, 'printf "Subject: x\\nnot a header line\\n\\nbody\\n" > "$1"');
  const good = await plant(sp, alice, 'printf "Subject: fine\\n\\nbody\\n" > "$1"');
  const log = await pickup(sp);
  assert.match(refusal(log, nul), /NUL byte/);
  assert.match(refusal(log, cr), /bare CR/);
  assert.match(refusal(log, bad), /not a header field/);
  assert.equal(refusal(log, good), '');
  assert.match(log, /1 queued, 3 refused/);
  assert.equal(queued(sp).length, 1);
});

test('H2: per-user queue limits (messages and bytes): the excess is refused with a clear log line, other users unaffected', async () => {
  const sp = spool('max_queued_messages_per_user = 2\nmax_queued_bytes_per_user = 3000\n');
  for (const r of ['a1@example.com', 'a2@example.com', 'a3@example.com']) assert.equal((await submit(sp, alice, r)).code, 0);
  assert.equal((await submit(sp, bob, 'b1@example.com')).code, 0);
  let log = await pickup(sp);
  assert.match(log, /3 queued, 1 refused/);
  assert.match(
    log,
    new RegExp(`refused incoming/\\S+ \\(uid ${alice.uid}\\): uid ${alice.uid} already has 2 messages queued \\(max_queued_messages_per_user = 2\\); removed`),
  );
  assert.equal(queued(sp).filter((r) => r.uid === alice.uid).length, 2);
  assert.equal(queued(sp).filter((r) => r.uid === bob.uid).length, 1, 'bob is not charged for alice');
  // outbox check --queue names the users at a limit.
  const check = await run(OUTBOX, ['check', '--queue'], { env: sp.env });
  assert.match(
    check.stdout,
    new RegExp(`^near a per-user limit: uid ${alice.uid} \\(obx-palice\\): 2 messages \\(100% of 2\\), \\d+ bytes \\(\\d+% of 3000\\) queued$`, 'm'),
  );
  assert.doesNotMatch(check.stdout, new RegExp(`uid ${bob.uid} `));
  // Bytes: bob's second message would take him over 3000 bytes.
  assert.equal((await submit(sp, bob, 'b2@example.com', 'x'.repeat(3000) + '\n')).code, 0);
  log = await pickup(sp);
  assert.match(log, new RegExp(`uid ${bob.uid} has \\d+ bytes queued, \\d+ more would exceed max_queued_bytes_per_user = 3000; removed`));
  assert.equal(queued(sp).filter((r) => r.uid === bob.uid).length, 1);
});

test('H2: a burst over max_pending_per_user waits for the next pickup (nothing lost)', async () => {
  const sp = spool('max_pending_per_user = 2\n');
  for (const r of ['p1@example.com', 'p2@example.com', 'p3@example.com']) assert.equal((await submit(sp, alice, r)).code, 0);
  let log = await pickup(sp);
  assert.match(log, /2 queued, 0 refused, 0 removed, 1 waiting/);
  assert.match(log, new RegExp(`uid ${alice.uid}: 1 more entries in incoming/ than max_pending_per_user = 2`));
  log = await pickup(sp);
  assert.match(log, /1 queued, 0 refused/);
  assert.equal(queued(sp).length, 3);
  // A queue run (the timer's sendmail -q) runs the next passes at once: the whole burst is queued.
  for (const r of ['p4@example.com', 'p5@example.com', 'p6@example.com', 'p7@example.com', 'p8@example.com'])
    assert.equal((await submit(sp, alice, r)).code, 0);
  const q = await run(SENDMAIL, ['-q'], { env: { ...sp.env, OUTBOX_LOG: 'stderr' }, timeoutMs: 60_000 });
  assert.equal(q.code, 78, q.stderr); // no relay in this test: the run picks up, then says so
  assert.match(q.stderr, /wait for the next/);
  assert.equal(queued(sp).length, 8, q.stderr);
  assert.deepEqual(names(sp), []);
});

test('M3: junk in incoming/ is swept by age, type and owner, at most 10,000 names per pass, resuming', async (t) => {
  const sp = spool('orphan_grace_seconds = 2\nmax_pending_per_user = 0\n');
  const dir = incoming(sp);
  // 20,000 junk names, a file with an mtime a year ahead, an empty and a non-empty directory, a FIFO.
  const mk = await asUser(
    alice,
    'sh',
    ['-c', 'cd "$1" && seq -f "junk-%05g" 1 20000 | xargs touch && touch -d "+1 year" future && mkdir empty full && touch full/x && mkfifo fifo', 'sh', dir],
    { timeoutMs: 60_000 },
  );
  assert.equal(mk.code, 0, mk.stderr);
  assert.ok(fs.statSync(path.join(dir, 'future')).mtimeMs > Date.now() + 86_400_000);
  await sleep(3000); // past the grace period
  const removed = (log: string) => Number(/(\d+) removed/.exec(log)?.[1]);
  const t0 = Date.now();
  const first = await pickup(sp);
  t.diagnostic(`first pass over 20,004 junk names: ${Date.now() - t0} ms`);
  // 10,000 names looked at: all but the non-empty directory removed.
  assert.equal(removed(first), 9_999, first.slice(-500));
  assert.match(first, /removed \d+ more names of uid \d+ from incoming\//);
  let left = names(sp);
  assert.equal(left.length, 20_004 - 9_999);
  // Resumes where it stopped; a bounded number of passes clears everything but the full directory.
  for (let pass = 0; pass < 3 && left.length > 1; pass++) {
    const log = await pickup(sp);
    assert.ok(removed(log) <= 10_000);
    left = names(sp);
  }
  assert.deepEqual(left, ['full'], 'junk, the future-dated file, the empty directory and the FIFO are gone');
  const last = await pickup(sp);
  assert.match(last, /cannot remove incoming\/full \(uid \d+\): a directory that is not empty; remove it as root/);
});

test("M3: by owner: a user's fresh names over max_pending_per_user are swept at once", async () => {
  const sp = spool('max_pending_per_user = 100\n');
  // 300 junk names sorted first, then a message bob may be writing right now (no envelope yet).
  const writing = entryName();
  const mk = await asUser(bob, 'sh', [
    '-c',
    'cd "$1" && seq -f "0junk-%04g" 1 300 | xargs touch && printf "Subject: half" > "$2"',
    'sh',
    incoming(sp),
    writing,
  ]);
  assert.equal(mk.code, 0, mk.stderr);
  const s = await submit(sp, alice, 'ok@example.com');
  assert.equal(s.code, 0, s.stderr);
  const log = await pickup(sp);
  assert.match(log, /1 queued, 0 refused, 200 removed/);
  assert.match(log, /more than max_pending_per_user = 100 names of this uid/);
  assert.equal(names(sp).length, 101);
  assert.ok(names(sp).includes(writing), 'an entry being written is never removed before its grace period');
});
