/**
 * End-to-end: the privilege model (docs/privilege-model.md) on a real system spool owned by a
 * runner user, with real unprivileged users submitting through the built binary (setpriv), PHP
 * mail() as www-data under no_new_privs, and hostile entries planted in incoming/.
 * Needs root (CI runs as root): users are created with useradd and removed afterwards.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OUTBOX, SENDMAIL, MAILQ, run, sleep } from '../helpers/run.js';
import {
  asUser,
  ensureUser,
  lookupUser,
  removeUsers,
  requireRoot,
  startDaemon as startSpoolDaemon,
  systemSpool,
  writeDropEnvelope,
  type TestUser,
} from '../helpers/users.js';

const SECRET = 'hunter2-relay-password';
let runner: TestUser;
let alice: TestUser;
let bob: TestUser;
let www: TestUser;
let sp: ReturnType<typeof systemSpool>;
let credentials: string;

before(() => {
  requireRoot();
  runner = ensureUser('obx-run');
  alice = ensureUser('obx-alice');
  bob = ensureUser('obx-bob');
  www = lookupUser('www-data') ?? ensureUser('www-data');
  // max_message_size makes the oversized entry below small to write.
  sp = systemSpool(runner, 'max_message_size = 100000\norphan_grace_seconds = 3600\n');
  // Credentials as install.sh makes them: root:outbox 0640.
  credentials = path.join(sp.dir, 'relay.password');
  fs.writeFileSync(credentials, SECRET + '\n', { mode: 0o640 });
  fs.chownSync(credentials, 0, runner.gid);
  fs.chmodSync(credentials, 0o640);
});

after(() => {
  sp?.cleanup();
  removeUsers(['obx-run', 'obx-alice', 'obx-bob']);
});

const incoming = () => path.join(sp.spool, 'incoming');
const entries = () => fs.readdirSync(incoming()).sort();
const ctlRecords = () =>
  fs
    .readdirSync(path.join(sp.spool, 'ctl'))
    .sort()
    .map((n) => JSON.parse(fs.readFileSync(path.join(sp.spool, 'ctl', n), 'utf8')) as Record<string, any>);

function submitAs(user: TestUser, rcpt: string, subject: string) {
  return asUser(user, SENDMAIL, ['-i', rcpt], { input: `Subject: ${subject}\n\nfrom ${user.name}\n`, env: sp.env });
}

/** The drop entry (message file name) a user owns, seen by root. */
function entryOf(user: TestUser): string {
  const names = entries().filter((n) => !n.endsWith('.env') && fs.statSync(path.join(incoming(), n)).uid === user.uid);
  assert.equal(names.length, 1, `one entry of ${user.name}: ${names.join(' ')}`);
  return names[0]!;
}

function pickupAs(user: TestUser | null) {
  return user ? asUser(user, OUTBOX, ['pickup', '-v'], { env: sp.env }) : run(OUTBOX, ['pickup', '-v'], { env: sp.env });
}

test('two users submit without privileges: both commit into incoming/, nothing in the queue yet', async () => {
  const a = await submitAs(alice, 'x@example.com', 'alice private');
  assert.equal(a.code, 0, a.stderr);
  const b = await submitAs(bob, 'y@example.com', 'bob private');
  assert.equal(b.code, 0, b.stderr);
  assert.equal(ctlRecords().length, 0);
  const ea = entryOf(alice);
  const eb = entryOf(bob);
  assert.match(ea, /^[0-9A-Z]{12}\.[0-9a-f]{32}$/);
  for (const [e, u] of [
    [ea, alice],
    [eb, bob],
  ] as const) {
    for (const f of [e, `${e}.env`]) {
      const st = fs.lstatSync(path.join(incoming(), f));
      assert.equal(st.uid, u.uid);
      assert.equal(st.mode & 0o7777, 0o644, `${f} mode`);
      assert.equal(st.nlink, 1);
    }
  }
  // No dot-temps left behind.
  assert.deepEqual(
    entries().filter((n) => n.startsWith('.')),
    [],
  );
});

test("neither can list, alter or remove the other's entry, nor read the queue or the credentials", async () => {
  const eb = path.join(incoming(), entryOf(bob));
  const ls = await asUser(alice, 'ls', [incoming()]);
  assert.notEqual(ls.code, 0);
  assert.match(ls.stderr, /Permission denied/);
  for (const dir of ['msg', 'ctl', 'tmp', 'lock']) {
    const r = await asUser(alice, 'ls', [path.join(sp.spool, dir)]);
    assert.notEqual(r.code, 0, `alice listed ${dir}/`);
  }
  const rm = await asUser(alice, 'rm', ['-f', eb, `${eb}.env`]);
  assert.notEqual(rm.code, 0, "sticky incoming/: alice removed bob's entry");
  assert.ok(fs.existsSync(eb) && fs.existsSync(`${eb}.env`));
  const mv = await asUser(alice, 'mv', [eb, `${eb}.stolen`]);
  assert.notEqual(mv.code, 0);
  const write = await asUser(alice, 'sh', ['-c', 'echo evil >> "$1"', 'sh', eb]);
  assert.notEqual(write.code, 0, "alice appended to bob's message");
  assert.ok(!fs.readFileSync(eb, 'utf8').includes('evil'));
  const cat = await asUser(alice, 'cat', [credentials]);
  assert.notEqual(cat.code, 0);
  assert.ok(!cat.stdout.includes(SECRET));
  // The runner's group may read it.
  const rc = await asUser(runner, 'cat', [credentials]);
  assert.equal(rc.code, 0, rc.stderr);
  assert.equal(rc.stdout.trim(), SECRET);
});

test('PHP mail() as www-data under no_new_privs commits into incoming/', async () => {
  const script = path.join(sp.dir, 'mail.php');
  fs.writeFileSync(script, `<?php echo mail('web@example.com', 'from php', "hello\\n", "From: site@example.test") ? "true" : "false";`, { mode: 0o644 });
  const php = execFileSync('which', ['php'], { encoding: 'utf8' }).trim();
  const r = await asUser(www, php, ['-d', `sendmail_path=${SENDMAIL} -t -i`, script], { env: sp.env, noNewPrivs: true });
  assert.equal(r.stdout, 'true', r.stderr);
  const e = entryOf(www);
  assert.ok(fs.existsSync(path.join(incoming(), `${e}.env`)));
});

test('the runner picks up every entry; the uid comes from the file owner, not the envelope', async () => {
  // A forged uid/user/attempts in an envelope must not be believed: alice claims to be root.
  const forged = await submitAs(alice, 'z@example.com', 'forged');
  assert.equal(forged.code, 0, forged.stderr);
  const names = entries().filter((n) => n.endsWith('.env'));
  const forgedEnv = names.find(
    (n) => fs.statSync(path.join(incoming(), n)).uid === alice.uid && fs.readFileSync(path.join(incoming(), n), 'utf8').includes('z@example.com'),
  )!;
  const rec = JSON.parse(fs.readFileSync(path.join(incoming(), forgedEnv), 'utf8'));
  const doctored = JSON.stringify({ ...rec, uid: 0, user: 'root', attempts: 99, hold: true, bounce: true, drop: 'x' });
  const w = await asUser(alice, 'sh', ['-c', 'cat > "$1"', 'sh', path.join(incoming(), forgedEnv)], { input: doctored });
  assert.equal(w.code, 0, w.stderr);

  const r = await pickupAs(runner);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /4 queued, 0 refused/);
  assert.deepEqual(entries(), []);
  const recs = ctlRecords();
  assert.equal(recs.length, 4);
  const byRcpt = new Map(recs.map((x) => [x.recipients[0].address, x]));
  assert.equal(byRcpt.get('x@example.com')!.uid, alice.uid);
  assert.equal(byRcpt.get('x@example.com')!.user, 'obx-alice');
  assert.equal(byRcpt.get('y@example.com')!.uid, bob.uid);
  assert.equal(byRcpt.get('web@example.com')!.user, 'www-data');
  const f = byRcpt.get('z@example.com')!;
  assert.equal(f.uid, alice.uid);
  assert.equal(f.user, 'obx-alice');
  assert.equal(f.attempts, 0);
  assert.equal(f.hold, false);
  assert.equal(f.bounce, undefined);
  for (const x of recs) {
    for (const file of [path.join(sp.spool, 'ctl', x.id), path.join(sp.spool, 'msg', x.id)]) {
      const st = fs.statSync(file);
      assert.equal(st.uid, runner.uid);
      assert.equal(st.mode & 0o777, 0o600);
    }
    assert.equal(fs.statSync(path.join(sp.spool, 'msg', x.id)).size, x.size);
  }
  // The queued bytes are out of every submitter's reach.
  const cat = await asUser(bob, 'cat', [path.join(sp.spool, 'msg', byRcpt.get('x@example.com')!.id)]);
  assert.notEqual(cat.code, 0);
});

test('root submits into incoming/ too, and a pickup started by root runs as the spool owner', async () => {
  const s = await run(SENDMAIL, ['-i', 'root'], { input: 'Subject: cron\n\nfrom root\n', env: sp.env });
  assert.equal(s.code, 0, s.stderr);
  assert.equal(entries().length, 2);
  const r = await pickupAs(null);
  assert.equal(r.code, 0, r.stderr);
  const rec = ctlRecords().find((x) => x.recipients[0].address === 'root@example.test')!;
  assert.equal(rec.uid, 0);
  assert.equal(rec.user, 'root');
  assert.equal(fs.statSync(path.join(sp.spool, 'ctl', rec.id)).uid, runner.uid, 'files written by a root-started pickup belong to the runner');
  assert.equal(fs.statSync(path.join(sp.spool, 'msg', rec.id)).uid, runner.uid);
});

test('limits the runner enforces are enforced at submission: exit 65, nothing left in incoming/', async () => {
  const many = Array.from({ length: 10_001 }, (_, i) => `r${i}@example.com`);
  const r = await asUser(alice, SENDMAIL, ['-i', ...many], { input: 'Subject: many\n\nx\n', env: sp.env });
  assert.equal(r.code, 65, r.stderr);
  assert.match(r.stderr, /more than 10000 recipients/);
  const big = await asUser(alice, SENDMAIL, ['-i', 'a@example.com'], { input: 'Subject: big\n\n' + 'x'.repeat(150_000) + '\n', env: sp.env });
  assert.equal(big.code, 65, big.stderr);
  assert.match(big.stderr, /larger than the limit of 100000 bytes/);
  assert.deepEqual(entries(), []);
});

test("cron's -odi in drop mode: exit 0 once committed (the runner delivers later)", async () => {
  const r = await asUser(bob, SENDMAIL, ['-FCronDaemon', '-i', '-odi', '-oem', '-oi', '-t', '-f', 'root'], {
    input: 'To: ops@example.com\nSubject: cron\n\nout\n',
    env: sp.env,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  entryOf(bob);
  const p = await pickupAs(runner);
  assert.match(p.stderr, /1 queued/);
  const rec = ctlRecords().find((x) => x.recipients[0].address === 'ops@example.com')!;
  assert.equal(rec.uid, bob.uid);
  assert.equal(rec.sender, 'root@example.test');
});

test('mailq as another user: a clear message when the daemon is not running', async () => {
  const q = await asUser(alice, MAILQ, [], { env: sp.env });
  assert.equal(q.code, 69, q.stderr);
  assert.match(q.stderr, /^mailq: the queue daemon is not running \(no listener on .*query\.sock\); only root and the spool owner can read the queue directly/);
  assert.equal(q.stdout, '');
  assert.deepEqual(
    entries().filter((n) => n.startsWith('q.')),
    [],
    'nothing is left in incoming/',
  );
});

test("mailq as another user through the daemon's socket: only that user's messages", async () => {
  const { startQueryServer } = await import('../../src/queue/query.js');
  const { loadConfig } = await import('../../src/config/config.js');
  const { spoolPaths } = await import('../../src/spool/spool.js');
  const lines: string[] = [];
  const config = loadConfig({ file: sp.config });
  const server = await startQueryServer(spoolPaths(sp.spool), config, { line: (_id, text) => lines.push(text) });
  try {
    assert.equal(fs.statSync(path.join(sp.spool, 'run', 'query.sock')).mode & 0o777, 0o666);
    const a = await asUser(alice, MAILQ, [], { env: sp.env });
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^-Queue ID- /);
    assert.match(a.stdout, /x@example\.com/);
    assert.match(a.stdout, /z@example\.com/);
    assert.ok(!a.stdout.includes('y@example.com') && !a.stdout.includes('web@example.com') && !a.stdout.includes('root@'), a.stdout);
    assert.match(a.stdout, /-- \d+ Kbytes in 2 Requests\.\n$/);
    const b = await asUser(bob, MAILQ, ['--json'], { env: sp.env });
    assert.equal(b.code, 0, b.stderr);
    const objs = b.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      objs.map((o) => o.recipients[0].address),
      ['y@example.com', 'ops@example.com'],
    );
    const w = await asUser(www, MAILQ, [], { env: sp.env, noNewPrivs: true });
    assert.match(w.stdout, /web@example\.com/);
    assert.ok(!w.stdout.includes('x@example.com'));
    // Root and the runner read the queue themselves and see everything.
    const r = await run(MAILQ, [], { env: sp.env });
    assert.match(r.stdout, /in 6 Requests\./);
    const o = await asUser(runner, MAILQ, [], { env: sp.env });
    assert.match(o.stdout, /in 6 Requests\./);
    assert.deepEqual(
      entries().filter((n) => n.startsWith('q.')),
      [],
      'proofs are used once and removed',
    );

    // Proofs (the attacks are in privsep-query.test.ts): a directory made by alice proves alice;
    // bob's symbolic link to it, or a file, proves nothing.
    const { verifyProof } = await import('../../src/queue/query.js');
    const tok = (n: number) => path.join(incoming(), `q.${String(n).padStart(32, '0')}`);
    const t0 = Date.now();
    assert.equal((await asUser(alice, 'mkdir', ['-m', '700', tok(1)])).code, 0);
    assert.deepEqual(await verifyProof(tok(1), t0), { uid: alice.uid });
    assert.equal((await asUser(bob, 'ln', ['-s', tok(1), tok(2)])).code, 0);
    assert.deepEqual(await verifyProof(tok(2), t0), { error: 'the proof is a symbolic link, not a directory' });
    assert.equal((await asUser(bob, 'touch', [tok(3)])).code, 0);
    assert.deepEqual(await verifyProof(tok(3), t0), { error: 'the proof is a regular file, not a directory' });
    for (const n of [1, 2, 3]) fs.rmSync(tok(n), { recursive: true });
  } finally {
    await server.close();
  }
});

/** Write an envelope for a planted entry as `user` (content chosen by the test). */
async function plantEnvelope(user: TestUser, name: string, size: number, extra: Record<string, unknown> = {}) {
  await writeDropEnvelope(user, path.join(incoming(), name), size, extra);
}

let n = 0;
const plantedName = () => `1M8${String(++n).padStart(9, '0')}.${String(n).padStart(32, 'a')}`;

test('hostile entries are refused, logged, removed, and nothing is read through them', async () => {
  const before = ctlRecords().length;
  const secretSize = fs.statSync(credentials).size;
  const planted: Record<string, string> = {};
  // A symbolic link to the credentials (which the runner itself may read).
  planted.symlink = plantedName();
  assert.equal((await asUser(alice, 'ln', ['-s', credentials, path.join(incoming(), planted.symlink)])).code, 0);
  await plantEnvelope(alice, planted.symlink, secretSize);
  // A symbolic link to a root-only file.
  planted.shadow = plantedName();
  assert.equal((await asUser(alice, 'ln', ['-s', '/etc/shadow', path.join(incoming(), planted.shadow)])).code, 0);
  await plantEnvelope(alice, planted.shadow, fs.statSync('/etc/shadow').size);
  // A symlink as the envelope itself.
  planted.envlink = plantedName();
  assert.equal((await asUser(alice, 'sh', ['-c', 'printf x > "$1"', 'sh', path.join(incoming(), planted.envlink)])).code, 0);
  assert.equal((await asUser(alice, 'ln', ['-s', credentials, path.join(incoming(), `${planted.envlink}.env`)])).code, 0);
  // A hard link to a file alice keeps elsewhere (and could change after the pickup).
  const own = path.join(sp.dir, 'alice-own');
  fs.writeFileSync(own, 'Subject: linked\n\nx\n');
  fs.chownSync(own, alice.uid, alice.gid);
  planted.hardlink = plantedName();
  assert.equal((await asUser(alice, 'ln', [own, path.join(incoming(), planted.hardlink)])).code, 0);
  await plantEnvelope(alice, planted.hardlink, fs.statSync(own).size);
  // A FIFO: reading it would block the runner forever.
  planted.fifo = plantedName();
  assert.equal((await asUser(alice, 'mkfifo', [path.join(incoming(), planted.fifo)])).code, 0);
  await plantEnvelope(alice, planted.fifo, 0);
  // A device (only root can make one): /dev/zero would never end.
  planted.device = plantedName();
  execFileSync('mknod', [path.join(incoming(), planted.device), 'c', '1', '5']);
  await plantEnvelope(alice, planted.device, 0);
  // Oversized: over max_message_size = 100000.
  planted.oversized = plantedName();
  const big = 'Subject: big\n\n' + 'x'.repeat(150_000) + '\n';
  assert.equal((await asUser(alice, 'sh', ['-c', 'cat > "$1"', 'sh', path.join(incoming(), planted.oversized)], { input: big })).code, 0);
  await plantEnvelope(alice, planted.oversized, Buffer.byteLength(big));
  // Envelope and message of different owners (bob's message, alice's envelope).
  planted.owners = plantedName();
  assert.equal((await asUser(bob, 'sh', ['-c', 'printf "Subject: b\\n\\nb\\n" > "$1"', 'sh', path.join(incoming(), planted.owners)])).code, 0);
  await plantEnvelope(alice, planted.owners, fs.statSync(path.join(incoming(), planted.owners)).size);
  // Malformed envelopes: a recipient with a line break (header injection), not JSON.
  planted.badrcpt = plantedName();
  assert.equal((await asUser(alice, 'sh', ['-c', 'printf "Subject: b\\n\\nb\\n" > "$1"', 'sh', path.join(incoming(), planted.badrcpt)])).code, 0);
  await plantEnvelope(alice, planted.badrcpt, fs.statSync(path.join(incoming(), planted.badrcpt)).size, {
    recipients: [{ address: 'a@example.com\r\nRCPT TO:<b@example.com>' }],
  });
  planted.notjson = plantedName();
  assert.equal((await asUser(alice, 'sh', ['-c', 'printf "x" > "$1"; printf "{not json" > "$1.env"', 'sh', path.join(incoming(), planted.notjson)])).code, 0);

  const r = await pickupAs(runner);
  assert.equal(r.code, 0, r.stderr);
  const log = r.stderr;
  const refusal = (name: string) => log.split('\n').find((l) => l.includes(`refused incoming/${name}`)) ?? '';
  assert.match(refusal(planted.symlink), /message is a symbolic link; removed/);
  assert.match(refusal(planted.shadow), /message is a symbolic link; removed/);
  assert.match(refusal(planted.envlink), /envelope is a symbolic link/);
  assert.match(refusal(planted.hardlink), /message has 2 links \(hard link\)/);
  assert.match(refusal(planted.fifo), /message is a FIFO/);
  assert.match(refusal(planted.device), /message is a device/);
  assert.match(refusal(planted.oversized), /over the limit of 100000/);
  assert.match(refusal(planted.owners), /different owners/);
  assert.match(refusal(planted.badrcpt), /control character/);
  assert.match(refusal(planted.notjson), /not JSON/);
  assert.match(log, /0 queued, 10 refused/);
  // Removed, and nothing queued; the secret was never copied anywhere.
  assert.deepEqual(entries(), []);
  assert.equal(ctlRecords().length, before);
  for (const f of fs.readdirSync(path.join(sp.spool, 'msg'))) {
    const text = fs.readFileSync(path.join(sp.spool, 'msg', f), 'utf8');
    assert.ok(!text.includes(SECRET) && !text.includes('root:'), `msg/${f} holds what a link pointed to`);
  }
  assert.ok(!log.includes(SECRET));
  // The hard link's other name is untouched; the credentials too.
  assert.ok(fs.existsSync(own));
  assert.equal(fs.readFileSync(credentials, 'utf8'), SECRET + '\n');
});

test('orphans: a message without an envelope and a stale dot-temp are swept after the grace period', async () => {
  const name = plantedName();
  assert.equal(
    (await asUser(alice, 'sh', ['-c', 'printf x > "$1"; printf "{" > "$2"', 'sh', path.join(incoming(), name), path.join(incoming(), `.${name}.env`)])).code,
    0,
  );
  let r = await pickupAs(runner);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(entries().length, 2, 'fresh uncommitted entries are left alone');
  const old = new Date(Date.now() - 2 * 3600_000);
  for (const f of entries()) fs.lutimesSync(path.join(incoming(), f), old, old);
  r = await pickupAs(runner);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(entries(), []);
  assert.match(r.stderr, /message without envelope older than 3600 s/);
  assert.match(r.stderr, /unfinished envelope older than 3600 s/);
});

test('a pickup that crashed after its commit does not queue the entry twice', async () => {
  const s = await submitAs(bob, 'twice@example.com', 'once');
  assert.equal(s.code, 0, s.stderr);
  const e = entryOf(bob);
  const keep = fs.readFileSync(path.join(incoming(), e));
  const keepEnv = fs.readFileSync(path.join(incoming(), `${e}.env`));
  const r1 = await pickupAs(runner);
  assert.match(r1.stderr, /1 queued/);
  // Put the entry back as if the unlink had not happened (crash between commit and unlink).
  for (const [f, data] of [
    [e, keep],
    [`${e}.env`, keepEnv],
  ] as const) {
    fs.writeFileSync(path.join(incoming(), f), data, { mode: 0o644 });
    fs.chownSync(path.join(incoming(), f), bob.uid, bob.gid);
  }
  const r2 = await pickupAs(runner);
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stderr, /already queued; removed the entry/);
  assert.equal(ctlRecords().filter((x) => x.recipients[0].address === 'twice@example.com').length, 1);
  assert.deepEqual(entries(), []);
});

test("a queue run started by root becomes the runner, picks up and delivers both users' mail with root:runner 0640 credentials", async () => {
  const { startRelay } = await import('../helpers/relay.js');
  const relay = await startRelay({ users: { outbox: SECRET } });
  try {
    // The test CA lives in a root-only directory; the runner must be able to read it.
    const ca = path.join(sp.dir, 'ca.pem');
    fs.copyFileSync(relay.caFile, ca);
    fs.chmodSync(ca, 0o644);
    const env = { ...sp.env, OUTBOX_RELAY: relay.url(), OUTBOX_RELAY_PASSWORD_FILE: credentials, OUTBOX_RELAY_CA: ca, OUTBOX_LOG: 'stderr' };
    assert.equal((await submitAs(alice, 'deliver-a@example.com', 'to the relay')).code, 0);
    assert.equal((await submitAs(bob, 'deliver-b@example.com', 'to the relay')).code, 0);
    const queued = ctlRecords().length;
    const r = await run(SENDMAIL, ['-q'], { env, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /picked up from incoming/);
    const got = relay.received.map((m) => `${m.mailFrom} -> ${m.rcptTo.join(',')}`).sort();
    assert.ok(got.includes('obx-alice@example.test -> deliver-a@example.com'), got.join('\n'));
    assert.ok(got.includes('obx-bob@example.test -> deliver-b@example.com'), got.join('\n'));
    assert.equal(relay.received.length, queued + 2);
    for (const m of relay.received) assert.equal(m.authUser, 'outbox');
    assert.deepEqual(ctlRecords(), []);
    assert.deepEqual(entries(), []);
    assert.ok(!r.stderr.includes(SECRET), 'the password appeared in the log');
    // Nothing the run created belongs to root.
    for (const d of ['msg', 'ctl', 'tmp', 'lock', 'run']) {
      for (const f of fs.readdirSync(path.join(sp.spool, d))) {
        if (f === 'query.sock') continue;
        assert.equal(fs.lstatSync(path.join(sp.spool, d, f)).uid, runner.uid, `${d}/${f}`);
      }
    }
  } finally {
    await relay.close();
  }
});

const startDaemon = (env: Record<string, string>) => startSpoolDaemon(sp.spool, env);

test('the daemon (started by root) picks up a drop within moments, delivers it, and answers mailq for users', async (t) => {
  const { startRelay } = await import('../helpers/relay.js');
  const relay = await startRelay({ users: { outbox: SECRET }, acceptDelayMs: 0 });
  const ca = path.join(sp.dir, 'ca.pem');
  fs.copyFileSync(relay.caFile, ca);
  fs.chmodSync(ca, 0o644);
  const env = { ...sp.env, OUTBOX_RELAY: relay.url(), OUTBOX_RELAY_PASSWORD_FILE: credentials, OUTBOX_RELAY_CA: ca, OUTBOX_LOG: 'stderr' };
  const daemon = await startDaemon(env);
  const log = () => daemon.log();
  try {
    const t0 = Date.now();
    assert.equal((await submitAs(alice, 'daemon@example.com', 'via the daemon')).code, 0);
    for (let i = 0; i < 600 && relay.received.length === 0; i++) await sleep(50);
    assert.equal(relay.received.length, 1, log());
    assert.equal(relay.received[0]!.mailFrom, 'obx-alice@example.test');
    const ms = Date.now() - t0;
    assert.ok(ms < 30_000, `delivered after ${ms} ms`); // a kick: the periodic run is 15 min away
    t.diagnostic(`drop to accepted by the relay: ${ms} ms (submission included)`);
    for (let i = 0; i < 100 && ctlRecords().length > 0; i++) await sleep(50);
    const q = await asUser(bob, MAILQ, [], { env: sp.env });
    assert.equal(q.code, 0, q.stderr);
    assert.equal(q.stdout, 'Mail queue is empty\n');
    assert.equal(fs.statSync(path.join(sp.spool, 'run', 'daemon.pid')).uid, runner.uid);
  } finally {
    await daemon.stop();
    await relay.close();
  }
  assert.ok(!fs.existsSync(path.join(sp.spool, 'run', 'query.sock')), 'the socket is removed when the daemon stops');
});

test('outbox queue as another user goes through the daemon: each user manages only their own messages', async () => {
  // No relay: picked-up messages stay queued, so there is something to manage.
  const env = { ...sp.env, OUTBOX_LOG: 'stderr' };
  const daemon = await startDaemon(env);
  const log = () => daemon.log();
  try {
    assert.equal((await submitAs(alice, 'keep-a@example.com', 'alice queued')).code, 0);
    assert.equal((await submitAs(bob, 'keep-b@example.com', 'bob queued')).code, 0);
    const mine = (u: TestUser) => ctlRecords().filter((r) => r.uid === u.uid);
    for (let i = 0; i < 600 && (mine(alice).length === 0 || mine(bob).length === 0); i++) await sleep(50);
    const a = mine(alice)[0]!;
    const b = mine(bob)[0]!;
    assert.ok(a && b, log());

    const hold = await asUser(alice, OUTBOX, ['queue', 'hold', '--all'], { env: sp.env });
    assert.equal(hold.code, 0, hold.stderr);
    assert.equal(mine(alice)[0]!.hold, true);
    assert.equal(mine(bob)[0]!.hold, false, "bob's message is not alice's to hold");

    const peek = await asUser(alice, OUTBOX, ['queue', 'show', b.id], { env: sp.env });
    assert.equal(peek.code, 77, peek.stderr);
    assert.match(peek.stderr, /permission denied \(submitted by another user\)/);
    assert.equal(peek.stdout, '');
    const show = await asUser(alice, OUTBOX, ['queue', 'show', a.id], { env: sp.env });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /keep-a@example\.com/);
    assert.match(show.stdout, /Subject: alice queued/);

    const del = await asUser(alice, OUTBOX, ['queue', 'delete', b.id], { env: sp.env });
    assert.equal(del.code, 77, del.stderr);
    assert.equal(mine(bob).length, 1);
    assert.equal((await asUser(bob, OUTBOX, ['queue', 'delete', '--all'], { env: sp.env })).code, 0);
    assert.equal(mine(bob).length, 0);
    assert.equal(mine(alice).length, 1, "bob's --all never reaches alice's message");
    assert.equal((await asUser(alice, OUTBOX, ['queue', 'delete', a.id], { env: sp.env })).code, 0);
    assert.equal(mine(alice).length, 0);
    // Records the daemon changed stay the runner's.
    for (const name of fs.readdirSync(path.join(sp.spool, 'ctl'))) assert.equal(fs.statSync(path.join(sp.spool, 'ctl', name)).uid, runner.uid);
  } finally {
    await daemon.stop();
  }
});
