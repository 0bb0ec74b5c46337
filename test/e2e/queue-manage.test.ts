/**
 * End-to-end: `outbox queue hold|release|requeue|delete|show` with the built binary, a real spool,
 * the real lock, and a second (non-root) user of a shared system spool.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { run, SENDMAIL, MAILQ, OUTBOX, controls, tempSpool, cleanEnv } from '../helpers/run.js';
import { tryLock } from '../../src/spool/lock.js';
import { spoolPaths } from '../../src/spool/spool.js';

const spools: ReturnType<typeof tempSpool>[] = [];
after(() => spools.forEach((s) => s.cleanup()));
function spool() {
  const s = tempSpool();
  spools.push(s);
  return s;
}

async function submit(env: Record<string, string>, args: string[], input = 'Subject: t\n\nbody\n') {
  const r = await run(SENDMAIL, ['-odq', '-i', ...args], { input, env });
  assert.equal(r.code, 0, r.stderr);
}

const ids = (spoolDir: string) => controls(spoolDir).map((r) => r.id as string);
const queue = (args: string[], env: Record<string, string>) => run(OUTBOX, ['queue', ...args], { env });

test('hold, release, requeue, delete by id: mailq marks, history, exit 0', async () => {
  const s = spool();
  await submit(s.env, ['-f', 'a@example.com', 'x@example.com']);
  await submit(s.env, ['-f', 'b@example.com', 'y@example.com']);
  const [id1, id2] = ids(s.spool);
  let r = await queue(['hold', id1!], s.env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${id1}: held\n`);
  assert.equal(controls(s.spool)[0]!.hold, true);
  const q = await run(MAILQ, [], { env: s.env });
  assert.ok(q.stdout.includes(`${id1}!`), q.stdout);
  // Already held: nothing changes, still success.
  r = await queue(['hold', id1!.toLowerCase()], s.env);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `${id1}: already on hold\n`);
  r = await queue(['release', id1!], s.env);
  assert.equal(r.stdout, `${id1}: released\n`);
  assert.equal(controls(s.spool)[0]!.hold, false);
  // requeue resets the schedule but keeps the attempt count.
  const p = path.join(s.spool, 'ctl', id2!);
  const rec = JSON.parse(fs.readFileSync(p, 'utf8'));
  fs.writeFileSync(p, JSON.stringify({ ...rec, attempts: 3, nextAttempt: Date.now() + 3_600_000 }));
  r = await queue(['requeue', id2!], s.env);
  assert.equal(r.code, 0, r.stderr);
  const after2 = controls(s.spool)[1]!;
  assert.equal(after2.nextAttempt, 0);
  assert.equal(after2.attempts, 3);
  assert.deepEqual(
    controls(s.spool)[0]!.history.map((h: { event: string }) => h.event),
    ['queued', 'held', 'released'],
  );
  r = await queue(['delete', id1!, id2!], s.env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${id1}: deleted\n${id2}: deleted\n`);
  assert.deepEqual(ids(s.spool), []);
  assert.deepEqual(fs.readdirSync(path.join(s.spool, 'msg')), []);
  assert.deepEqual(fs.readdirSync(path.join(s.spool, 'lock')), []);
  assert.deepEqual(fs.readdirSync(path.join(s.spool, 'tmp')), []);
});

test('show: envelope, state, history, then exactly the stored bytes; --no-body; --json', async () => {
  const s = spool();
  const body = 'line one\n\x80\xff 8-bit\n' + 'z'.repeat(200_000) + '\n';
  await submit(s.env, ['-f', 'sender@example.com', 'one@example.com', 'two@example.com'], 'Subject: show me\n\n' + body);
  const [id] = ids(s.spool);
  const r = spawnSync(OUTBOX, ['queue', 'show', id!], { env: cleanEnv(s.env) });
  assert.equal(r.status, 0, r.stderr.toString());
  const out = r.stdout;
  const marker = out.indexOf('Content:\n');
  assert.ok(marker > 0);
  const head = out.subarray(0, marker).toString('utf8');
  assert.match(head, new RegExp(`^Queue ID:    ${id}\n`));
  assert.match(head, /^State:       queued, due now; 0 attempts; 2 of 2 recipients pending$/m);
  assert.match(head, /^Sender:      <sender@example\.com>$/m);
  assert.match(head, /^  <one@example\.com> pending$/m);
  assert.match(head, /^  <two@example\.com> pending$/m);
  assert.match(head, /^History:\n  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ queued uid=0 from=<sender@example\.com> nrcpt=2$/m);
  assert.ok(out.subarray(marker + 9).equals(fs.readFileSync(path.join(s.spool, 'msg', id!))), 'content is the stored bytes');
  const nb = await queue(['show', '--no-body', id!], s.env);
  assert.equal(nb.stdout, head);
  const js = await queue(['show', '--json', id!], s.env);
  assert.deepEqual(JSON.parse(js.stdout), controls(s.spool)[0]);
});

test('selections: --all, --sender, --recipient, --held, --older-than; nothing matched is not an error', async () => {
  const s = spool();
  await submit(s.env, ['-f', 'cron@example.com', 'root@example.com']);
  await submit(s.env, ['-f', 'cron@example.com', 'ops@example.org']);
  await submit(s.env, ['-f', '<>', 'admin@example.org']);
  await submit(s.env, ['-f', 'web@example.com', 'user@example.net']);
  const [a, b, c, d] = ids(s.spool);
  let r = await queue(['hold', '--sender=CRON@'], s.env);
  assert.equal(r.stdout, `${a}: held\n${b}: held\n`);
  r = await queue(['requeue', '--held', '--recipient', 'example.org'], s.env);
  assert.equal(r.stdout, `${b}: requeued\n`);
  r = await queue(['delete', '--sender=<>'], s.env);
  assert.equal(r.stdout, `${c}: deleted\n`);
  r = await queue(['delete', '--older-than=1d'], s.env);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, '');
  r = await queue(['release', '--all'], s.env);
  assert.equal(r.stdout, `${a}: released\n${b}: released\n${d}: already not on hold\n`);
  // Backdate one arrival: --older-than selects by arrival time.
  const p = path.join(s.spool, 'ctl', d!);
  fs.writeFileSync(p, JSON.stringify({ ...JSON.parse(fs.readFileSync(p, 'utf8')), arrival: Date.now() - 3 * 86_400_000 }));
  r = await queue(['delete', '--older-than', '2d'], s.env);
  assert.equal(r.stdout, `${d}: deleted\n`);
  assert.deepEqual(ids(s.spool), [a, b]);
});

test('errors: usage 64, unknown id 67 (others still done), corrupt record 65, locked 75', async () => {
  const s = spool();
  await submit(s.env, ['x@example.com']);
  await submit(s.env, ['y@example.com']);
  const [id1, id2] = ids(s.spool);
  for (const args of [
    [],
    ['frobnicate'],
    ['hold'],
    ['hold', 'not-an-id'],
    ['hold', '--all', id1!],
    ['show'],
    ['delete', '--older-than=soon'],
    ['hold', '--bogus'],
  ]) {
    const r = await queue(args, s.env);
    assert.equal(r.code, 64, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^outbox: queue( \w+)?: .+ \(see outbox queue --help\)\n$/);
  }
  const help = await queue(['--help'], s.env);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: outbox queue hold\|release\|requeue\|delete /);
  let r = await queue(['hold', '1M815A0FX6KD', id1!], s.env);
  assert.equal(r.code, 67);
  assert.equal(r.stderr, 'outbox queue hold: 1M815A0FX6KD: no such message in the queue (delivered or removed already?)\n');
  assert.equal(r.stdout, `${id1}: held\n`, 'the known id is still processed');
  r = await queue(['show', '1M815A0FX6KD'], s.env);
  assert.equal(r.code, 67);
  assert.equal(r.stdout, '');
  // A message locked by a runner (the same lock primitive) is not changed: 75, try again.
  const release = await tryLock(spoolPaths(s.spool), id2!, 30_000);
  assert.ok(release);
  try {
    r = await queue(['delete', id2!], s.env);
    assert.equal(r.code, 75);
    assert.equal(r.stderr, `outbox queue delete: ${id2}: being delivered (locked); try again later\n`);
    assert.deepEqual(ids(s.spool), [id1, id2]);
    r = await queue(['delete', '--all'], s.env);
    assert.equal(r.code, 75, 'a selection reports the locked message too');
    assert.equal(r.stdout, `${id1}: deleted\n`);
    const show = await queue(['show', '--no-body', id2!], s.env);
    assert.equal(show.code, 0, 'show does not need the lock');
    assert.match(show.stdout, /^State:       being delivered;/m);
  } finally {
    await release();
  }
  fs.writeFileSync(path.join(s.spool, 'ctl', id2!), '{"v":1,');
  r = await queue(['hold', id2!], s.env);
  assert.equal(r.code, 65);
  assert.match(r.stderr, new RegExp(`^outbox queue hold: ${id2}: unreadable control record: not JSON`));
  fs.writeFileSync(path.join(s.spool, 'ctl', id2!), JSON.stringify({ v: 2, id: id2 }));
  r = await queue(['hold', id2!], s.env);
  assert.equal(r.code, 65);
  assert.match(r.stderr, /version 2 is newer than this program/);
});

test('a non-root user of the system spool manages only their own messages (77 for others)', async () => {
  const s = spool();
  const conf = path.join(s.dir, 'outbox.conf');
  fs.writeFileSync(conf, 'domain = "example.com"\n');
  fs.chmodSync(s.dir, 0o755);
  fs.chmodSync(conf, 0o644);
  // A shared system-style spool that the test user can write (the privilege split may later
  // route this through a helper; the ownership rule is the same).
  const env = { ...s.env, OUTBOX_CONFIG: conf };
  await submit(env, ['-f', 'root@example.com', 'x@example.com']);
  for (const d of ['', 'tmp', 'msg', 'ctl', 'lock', 'run']) fs.chmodSync(path.join(s.spool, d), 0o1777);
  const asNobody = (cmd: string, args: string[], input = '') => {
    const r = spawnSync(cmd, args, { env: cleanEnv({ ...env, HOME: '/nonexistent' }), uid: 65534, gid: 65534, input, timeout: 20_000 });
    return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };
  let r = asNobody(SENDMAIL, ['-odq', '-i', 'y@example.com'], 'Subject: mine\n\n');
  assert.equal(r.code, 0, r.stderr);
  const [rootId, ownId] = ids(s.spool);
  assert.equal(controls(s.spool)[1]!.uid, 65534);
  // Readable, so that the ownership rule (not file permissions) is what refuses.
  fs.chmodSync(path.join(s.spool, 'ctl', rootId!), 0o644);
  r = asNobody(OUTBOX, ['queue', 'delete', rootId!]);
  assert.equal(r.code, 77);
  assert.match(r.stderr, /submitted by another user/);
  assert.match(r.stderr, new RegExp(`^outbox queue delete: ${rootId}: permission denied`));
  r = asNobody(OUTBOX, ['queue', 'show', rootId!]);
  assert.equal(r.code, 77);
  r = asNobody(OUTBOX, ['queue', 'hold', '--all']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${ownId}: held\n`, "--all covers only the caller's own messages");
  assert.equal(controls(s.spool).find((c) => c.id === ownId)!.hold, true);
  assert.equal(controls(s.spool).find((c) => c.id === rootId)!.hold, false);
  r = asNobody(OUTBOX, ['queue', 'delete', ownId!]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(ids(s.spool), [rootId]);
  // root manages everything.
  const rr = await queue(['hold', rootId!], env);
  assert.equal(rr.code, 0, rr.stderr);
});
