/**
 * End-to-end: attacks on the daemon's query socket and on the queue commands (issue 11 H1, M1,
 * M4, L2; issue 15 item 23), on a system spool owned by a runner user (scripts/package/mkspool.sh), with
 * the daemon started by root (it drops to the runner) and real unprivileged users. The raw
 * client test/helpers/query-raw.ts plays the attacker. Needs root (CI runs as root).
 * README.md: the table "what a local user can try -> what happens".
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OUTBOX, SENDMAIL, MAILQ, run, sleep } from '../helpers/run.js';
import { asUser, ensureUser, removeUsers, requireRoot, startDaemon as startSpoolDaemon, systemSpool, type TestUser } from '../helpers/users.js';
import type { Plan, Result } from '../helpers/query-raw.js';

const RAW = path.join(path.dirname(fileURLToPath(import.meta.url)), '../helpers/query-raw.js');
const BIG = 40 * 1024 * 1024;
let runner: TestUser;
let alice: TestUser;
let bob: TestUser;
let sp: ReturnType<typeof systemSpool>;
let shared: string;

before(() => {
  requireRoot();
  runner = ensureUser('obx-qrun');
  alice = ensureUser('obx-qalice');
  bob = ensureUser('obx-qbob');
  sp = systemSpool(runner);
  // A shared project directory on the spool's filesystem that every user may write (no sticky
  // bit): the place a user moves someone else's file from.
  shared = path.join(sp.dir, 'shared');
  fs.mkdirSync(shared);
  fs.chmodSync(shared, 0o777);
});

after(() => {
  sp?.cleanup();
  removeUsers(['obx-qrun', 'obx-qalice', 'obx-qbob']);
});

const ctl = () =>
  fs
    .readdirSync(path.join(sp.spool, 'ctl'))
    .sort()
    .map((n) => JSON.parse(fs.readFileSync(path.join(sp.spool, 'ctl', n), 'utf8')) as Record<string, any>);
const ofUser = (u: TestUser | number) => ctl().filter((r) => r.uid === (typeof u === 'number' ? u : u.uid));
const proofsLeft = () => fs.readdirSync(path.join(sp.spool, 'incoming')).filter((n) => n.startsWith('q.'));

async function rawAs(user: TestUser, plan: Omit<Plan, 'spool'>, timeoutMs = 60_000): Promise<Result> {
  const r = await asUser(user, process.execPath, [RAW, JSON.stringify({ spool: sp.spool, ...plan })], { timeoutMs });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Result;
}

function submitAs(user: TestUser | null, rcpt: string, text: string, args: string[] = []) {
  const argv = ['-i', ...args, rcpt];
  return user ? asUser(user, SENDMAIL, argv, { input: text, env: sp.env }) : run(SENDMAIL, argv, { input: text, env: sp.env });
}

const startDaemon = () => startSpoolDaemon(sp.spool, { ...sp.env, OUTBOX_LOG: 'stderr' });

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

let daemon: Awaited<ReturnType<typeof startDaemon>>;
let aliceId: string;
let bobId: string;

test('setup: alice, bob and root each have a message queued by the daemon', async () => {
  daemon = await startDaemon();
  assert.equal((await submitAs(alice, 'alice-rcpt@example.com', 'Subject: alice private\n\nalice body\n')).code, 0);
  assert.equal((await submitAs(bob, 'bob-rcpt@example.com', 'Subject: bob private\n\nbob secret body\n')).code, 0);
  assert.equal((await submitAs(null, 'root-rcpt@example.com', 'Subject: root private\n\nroot body\n')).code, 0);
  for (let i = 0; i < 600 && (ofUser(alice).length === 0 || ofUser(bob).length === 0 || ofUser(0).length === 0); i++) await sleep(50);
  aliceId = ofUser(alice)[0]!.id;
  bobId = ofUser(bob)[0]!.id;
  assert.ok(aliceId && bobId && ofUser(0).length === 1, daemon.log());
  // The legitimate way still works: alice's own messages only.
  const q = await asUser(alice, MAILQ, [], { env: sp.env });
  assert.equal(q.code, 0, q.stderr);
  assert.match(q.stdout, /alice-rcpt@example\.com/);
  assert.ok(!q.stdout.includes('bob-rcpt') && !q.stdout.includes('root-rcpt'), q.stdout);
  const own = await rawAs(alice, { request: { op: 'list' }, proof: 'own' });
  assert.equal(own.head?.ok, true, JSON.stringify(own));
  assert.match(own.body, /alice-rcpt/);
  assert.equal(own.protocol, 2);
});

test("H1: alice moves bob's group-writable file to the proof name: she is not bob", async () => {
  const file = path.join(shared, 'bob-notes.txt');
  assert.equal((await asUser(bob, 'sh', ['-c', 'umask 002; echo notes > "$1"; chmod 666 "$1"', 'sh', file])).code, 0);
  assert.equal((await asUser(alice, 'touch', [file])).code, 0, 'alice may touch it (to make it fresh)');
  const show = await rawAs(alice, { request: { op: 'queue', args: ['show', bobId] }, proof: { rename: file } });
  assert.equal(show.renameError, undefined, 'the rename itself works: the sticky bit does not stop moving in');
  assert.notEqual(show.head?.ok, true, `alice was taken for bob: ${show.body}`);
  assert.match(show.head?.error ?? '', /not authenticated \(the proof is a regular file, not a directory\)/);
  assert.ok(!show.body.includes('bob secret body'));
  // The same with the delete she managed before: bob's message stays.
  const del = await rawAs(alice, { request: { op: 'queue', args: ['delete', bobId] }, proof: { rename: path.join(shared, 'bob-2.txt') } });
  assert.notEqual(del.head?.ok, true);
  assert.equal(ofUser(bob).length, 1);
});

test("H1: bob's directories cannot be borrowed either: a 0755 one cannot be moved, a writable one is refused", async () => {
  const closed = path.join(shared, 'bob-dir');
  const open = path.join(shared, 'bob-open');
  assert.equal((await asUser(bob, 'sh', ['-c', 'mkdir -m 755 "$1" && mkdir -m 777 "$2"', 'sh', closed, open])).code, 0);
  const a = await rawAs(alice, { request: { op: 'list' }, proof: { rename: closed } });
  assert.equal(a.renameError, 'EACCES', 'moving a directory needs write permission on it');
  assert.notEqual(a.head?.ok, true);
  const b = await rawAs(alice, { request: { op: 'list' }, proof: { rename: open } });
  assert.equal(b.renameError, undefined);
  assert.notEqual(b.head?.ok, true, b.body);
  assert.match(b.head?.error ?? '', /writable by group or others/);
  assert.ok(!b.body.includes('bob-rcpt'));
});

test('H1: alice moves a root-owned file to the proof name: no root view', async () => {
  const file = path.join(shared, 'root-owned.txt');
  fs.writeFileSync(file, 'x');
  fs.chmodSync(file, 0o666);
  const r = await rawAs(alice, { request: { op: 'list' }, proof: { rename: file } });
  assert.equal(r.renameError, undefined);
  assert.notEqual(r.head?.ok, true, `alice got the root view: ${r.body}`);
  assert.ok(!r.body.includes('root-rcpt') && !r.body.includes('bob-rcpt'), r.body);
});

test('H1: a proof replayed on a second connection at the same moment is refused there', async () => {
  const r = await rawAs(alice, { request: { op: 'list' }, proof: 'own', replay: true });
  assert.equal(r.head?.ok, true, JSON.stringify(r));
  assert.ok(r.second, 'the second connection answered');
  assert.notEqual(r.second!.head?.ok, true, `the replayed request was answered: ${r.second!.body}`);
  assert.match(r.second!.head?.error ?? '', /not authenticated/);
});

test('H1: a token made before the connection is refused', async () => {
  const name = `q.${'5'.repeat(32)}`;
  assert.equal((await asUser(alice, 'touch', [path.join(sp.spool, 'incoming', name)])).code, 0);
  const r = await rawAs(alice, { request: { op: 'list' }, proof: { precreated: name } });
  assert.notEqual(r.head?.ok, true, `a token made before the connection was accepted: ${r.body}`);
  // Nothing the daemon checked is left behind: its proofs are removed after use.
  const dirs = proofsLeft().filter((n) => fs.lstatSync(path.join(sp.spool, 'incoming', n)).isDirectory());
  assert.deepEqual(dirs, []);
});

test('M1: a client that never reads a 40 MB show does not make the daemon hold the message', async (t) => {
  // Alice's own message, made big in place (the runner's file, same owner and mode).
  const msg = path.join(sp.spool, 'msg', aliceId);
  const head = fs.readFileSync(msg);
  fs.appendFileSync(msg, Buffer.alloc(BIG - head.length, 'y'));
  const ctlFile = path.join(sp.spool, 'ctl', aliceId);
  const rec = JSON.parse(fs.readFileSync(ctlFile, 'utf8'));
  fs.writeFileSync(ctlFile, JSON.stringify({ ...rec, size: BIG }));
  const before = rssMB(daemon.pid);
  let peak = before;
  const sampling = (async () => {
    for (let i = 0; i < 40; i++) {
      peak = Math.max(peak, rssMB(daemon.pid));
      await sleep(100);
    }
  })();
  const r = await rawAs(alice, { request: { op: 'queue', args: ['show', aliceId] }, proof: 'own', read: false, holdMs: 4000 });
  await sampling;
  const grew = peak - before;
  t.diagnostic(`daemon RSS ${before.toFixed(0)} MB before, ${peak.toFixed(0)} MB at most while the client did not read`);
  assert.ok(grew < 25, `the daemon grew by ${grew.toFixed(0)} MB for a client that does not read (from ${before.toFixed(0)} MB)`);
  assert.equal(r.protocol, 2);
});

test('M1: a request trickled one byte at a time is cut off at the absolute deadline (5 s)', async () => {
  // The request takes 75 s to trickle; the daemon must cut it at 5 s (25 s: 5x headroom).
  const r = await rawAs(alice, { request: { op: 'list', args: Array(40).fill('x') }, proof: 'own', trickle: { everyMs: 300, forMs: 30_000 } });
  assert.ok(r.closedByServer, 'the daemon kept the trickling connection open');
  assert.ok(r.ms < 25_000, `closed after ${r.ms} ms`);
});

test('M1: at most 4 answers at once per user: a fifth is refused, other users are served', async () => {
  const ready = (i: number) => path.join(shared, `stalled-${i}`);
  const stalled = Array.from({ length: 4 }, (_, i) =>
    // They hold their connection 15 s on purpose: the limit is 8x that.
    rawAs(alice, { request: { op: 'queue', args: ['show', aliceId] }, proof: 'own', read: false, holdMs: 15_000, readyFile: ready(i) }, 120_000),
  );
  // Each is answered (verdict in) and then stops reading: the daemon waits on it.
  for (let i = 0; i < 300 && [0, 1, 2, 3].some((n) => !fs.existsSync(ready(n))); i++) await sleep(100);
  for (const n of [0, 1, 2, 3]) assert.match(fs.readFileSync(ready(n), 'utf8'), /"ok":true/);
  const fifth = await rawAs(alice, { request: { op: 'list' }, proof: 'own' });
  const other = await rawAs(bob, { request: { op: 'list' }, proof: 'own' });
  await Promise.all(stalled);
  assert.notEqual(fifth.head?.ok, true, 'alice got a fifth answer at once');
  assert.match(fifth.head?.error ?? '', /too many queries at once from uid \d+ \(at most 4\)/);
  assert.equal(other.head?.ok, true, JSON.stringify(other));
  assert.match(other.body, /bob-rcpt/);
  // Once the stalled ones are gone, alice is served again.
  for (let i = 0; i < 50; i++) {
    const again = await rawAs(alice, { request: { op: 'list' }, proof: 'own' });
    if (again.head?.ok) break;
    assert.ok(i < 49, 'alice is never served again');
    await sleep(200);
  }
});

test('item 23: sendmail -q by an ordinary user asks the daemon to run the queue', async () => {
  const r = await asUser(bob, SENDMAIL, ['-q'], { env: sp.env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  for (let i = 0; i < 600 && !/queue run requested/.test(daemon.log()); i++) await sleep(50);
  assert.match(daemon.log(), /queue run requested through .*query\.sock: \d+ message\(s\)/);
});

test('L2: queue show on a terminal makes ESC sequences visible; --raw and a pipe get the bytes', async () => {
  const evil = 'From: "\x1b]0;pwned\x07Boss" <boss@example.com>\nSubject: \x1b[2J\x1b[Hcleared\n\nbody \x1b[31mred\x1b[0m\r over\n';
  assert.equal((await submitAs(alice, 'esc@example.com', evil)).code, 0);
  for (let i = 0; i < 600 && !ctl().some((r) => r.recipients[0].address === 'esc@example.com'); i++) await sleep(50);
  const id = ctl().find((r) => r.recipients[0].address === 'esc@example.com')!.id;
  // Root, on a pty (script(1) gives the command a terminal).
  const tty = await run('script', ['-qec', `${OUTBOX} queue show ${id}`, '/dev/null'], { env: sp.env });
  assert.equal(tty.code, 0, tty.stderr);
  assert.ok(!tty.stdout.includes('\x1b'), `raw ESC on the terminal: ${JSON.stringify(tty.stdout)}`);
  assert.match(tty.stdout, /\^\[\]0;pwned\^GBoss/);
  assert.match(tty.stdout, /Subject: \^\[\[2J\^\[\[Hcleared/);
  assert.match(tty.stdout, /body \^\[\[31mred\^\[\[0m\^M over/);
  const raw = await run('script', ['-qec', `${OUTBOX} queue show --raw ${id}`, '/dev/null'], { env: sp.env });
  assert.ok(raw.stdout.includes('\x1b[2J'), '--raw prints the bytes');
  const pipe = await run(OUTBOX, ['queue', 'show', id], { env: sp.env });
  assert.equal(pipe.code, 0, pipe.stderr);
  assert.ok(pipe.stdout.includes('Subject: \x1b[2J\x1b[Hcleared\n'), 'a pipe gets the stored bytes');
  // Alice through the daemon: the same on her terminal, the bytes through a pipe.
  const atty = await asUser(alice, 'script', ['-qec', `${OUTBOX} queue show ${id}`, '/dev/null'], { env: sp.env });
  assert.equal(atty.code, 0, atty.stderr);
  assert.ok(!atty.stdout.includes('\x1b'), JSON.stringify(atty.stdout));
  assert.match(atty.stdout, /Subject: \^\[\[2J/);
  const apipe = await asUser(alice, OUTBOX, ['queue', 'show', id], { env: sp.env });
  assert.ok(apipe.stdout.includes('\x1b[2J'));
});

test('L2: -F with a control character is refused (exit 64)', async () => {
  const r = await submitAs(alice, 'x@example.com', 'hi\n', ['-F', 'Evil\x1b]0;title\x07']);
  assert.equal(r.code, 64, r.stderr);
  assert.match(r.stderr, /-F: value contains a control character/);
});

test('stop the daemon', async () => {
  await daemon.stop();
  assert.deepEqual(
    proofsLeft().filter((n) => fs.lstatSync(path.join(sp.spool, 'incoming', n)).isDirectory()),
    [],
    'proof directories left behind',
  );
});

test('item 23: without a daemon, sendmail -q by a user says in one line who can run it (exit 69)', async () => {
  const r = await asUser(bob, SENDMAIL, ['-q'], { env: sp.env });
  assert.equal(r.code, 69, r.stderr);
  assert.match(
    r.stderr,
    /^sendmail: the queue daemon is not running \(no listener on .*\); only root and the spool owner can read the queue directly: run "sudo sendmail -q", or start the daemon \(systemctl start outbox\)\n$/,
  );
});

test("M4: hold then release as root leaves the record the runner's", async () => {
  for (const action of ['hold', 'release']) {
    const r = await run(OUTBOX, ['queue', action, bobId], { env: sp.env });
    assert.equal(r.code, 0, r.stderr);
    const st = fs.statSync(path.join(sp.spool, 'ctl', bobId));
    assert.equal(st.uid, runner.uid, `${action} as root made ctl/${bobId} uid ${st.uid}`);
  }
  for (const d of ['ctl', 'msg', 'lock', 'tmp']) {
    for (const f of fs.readdirSync(path.join(sp.spool, d))) assert.equal(fs.lstatSync(path.join(sp.spool, d, f)).uid, runner.uid, `${d}/${f}`);
  }
  // The runner can read it (it would have been lost to it before).
  const seen = await asUser(runner, MAILQ, [], { env: sp.env });
  assert.match(seen.stdout, new RegExp(bobId));
});

test('M4: a record root left behind is reported loudly by the runner and mailq, and repaired by a root queue run', async () => {
  const file = path.join(sp.spool, 'ctl', bobId);
  fs.chownSync(file, 0, 0);
  fs.chmodSync(file, 0o600);
  const env = { ...sp.env, OUTBOX_LOG: 'stderr', OUTBOX_RELAY: 'smtp://127.0.0.1:9' };
  const asRunner = await asUser(runner, SENDMAIL, ['-q'], { env });
  assert.match(asRunner.stderr, new RegExp(`${bobId}: control record unreadable by the runner \\(EACCES, owned by uid 0\\); run "sudo sendmail -q" once`));
  const q = await asUser(runner, MAILQ, [], { env: sp.env });
  assert.match(q.stdout, new RegExp(`${bobId}.*\\n.*control record unreadable by the runner`));
  const asRoot = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
  assert.match(asRoot.stderr, new RegExp(`ctl/${bobId} belonged to another user .*given back to the spool owner`));
  assert.equal(fs.statSync(file).uid, runner.uid);
  const rec = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.ok(rec.attempts >= 1, 'the message was tried once repaired');
});
