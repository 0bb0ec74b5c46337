/**
 * End to end: the one argument table of the `outbox` commands (src/cli/args.ts). Every
 * command takes -C FILE in each spelling and reads that file (deliver, pickup and queue use the
 * spool and relay it names); an unknown option is exit 64 with the same one-line wording in
 * every command; a bare `outbox` prints its usage (64) instead of reading a message.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { startRelay } from '../helpers/relay.js';
import { OUTBOX, SENDMAIL, controls, run, spoolsForFile } from '../helpers/run.js';
import { programUsage } from '../../src/cli/usage.js';

const spool = spoolsForFile(after, 'outbox-args-');
const MSG = 'Subject: args\nTo: a@example.com\n\nHello.\n';

/** No OUTBOX_SPOOL; the default configuration names another spool and no relay: -C must win. */
function bareEnv(dir: string): Record<string, string> {
  const other = path.join(dir, 'default.toml');
  fs.writeFileSync(other, `spool = "${path.join(dir, 'other-spool')}"\n`);
  return { OUTBOX_CONFIG: other, HOME: dir, OUTBOX_LOG: 'stderr' };
}

test('outbox deliver, pickup and queue use the spool and relay of -C FILE (every spelling)', async () => {
  const t = spool();
  const relay = await startRelay();
  after(() => relay.close());
  const pw = path.join(t.dir, 'password');
  fs.writeFileSync(pw, 'secret\n', { mode: 0o600 });
  const conf = path.join(t.dir, 'outbox.toml');
  fs.writeFileSync(conf, `spool = "${t.spool}"\n[relay.main]\nurl = "${relay.url()}"\npassword_file = "${pw}"\nca_file = "${relay.caFile}"\n`);
  const env = bareEnv(t.dir);
  for (let i = 0; i < 2; i++) {
    const s = await run(SENDMAIL, ['-C', conf, '-odq', '-f', 'sender@example.com', `r${i}@example.com`], { env, input: MSG });
    assert.equal(s.code, 0, s.stderr);
  }
  const [id1, id2] = controls(t.spool).map((c) => c.id as string);
  assert.ok(id1 && id2, 'both queued in the file’s spool');

  // Without -C the command does not see that spool.
  const lost = await run(OUTBOX, ['queue', 'hold', id1], { env });
  assert.equal(lost.code, 67, lost.stderr);
  for (const [args, want] of [
    [['queue', 'hold', '-C', conf, id1], `${id1}: held\n`],
    [['queue', 'release', `-C${conf}`, id1], `${id1}: released\n`],
    [['queue', 'hold', id1, `--config=${conf}`], `${id1}: held\n`],
    [['queue', 'release', '--config', conf, id1], `${id1}: released\n`],
  ] as const) {
    const r = await run(OUTBOX, [...args], { env });
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, want, args.join(' '));
  }
  const show = await run(OUTBOX, ['queue', 'show', '--no-body', '-C', conf, id2], { env });
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`^Queue ID: +${id2}$`, 'm'));

  const d1 = await run(OUTBOX, ['deliver', '-C', conf, id1], { env, timeoutMs: 30_000 });
  assert.equal(d1.code, 0, d1.stderr);
  const d2 = await run(OUTBOX, ['deliver', `-C${conf}`, '-v', id2], { env, timeoutMs: 30_000 });
  assert.equal(d2.code, 0, d2.stderr);
  assert.deepEqual(relay.received.map((m) => m.rcptTo[0]).sort(), ['r0@example.com', 'r1@example.com']);
  assert.deepEqual(controls(t.spool), [], 'delivered from the file’s spool');

  const p = await run(OUTBOX, ['pickup', '-v', '-C', conf], { env });
  assert.equal(p.code, 0, p.stderr);
  assert.ok(fs.existsSync(path.join(t.spool, 'incoming')) || /0 queued/.test(p.stderr), `pickup ran on ${t.spool}: ${p.stderr}`);
});

test('every command reads the file -C names: a broken one is a configuration error (78) naming it', async () => {
  const t = spool();
  const bad = path.join(t.dir, 'broken.toml');
  fs.writeFileSync(bad, 'this is = = not toml\n');
  const env = bareEnv(t.dir);
  const ID = '1M815A0FX6KD';
  for (const args of [
    ['deliver', ID],
    ['pickup'],
    ['queue', 'hold', ID],
    ['queue', 'show', ID],
    ['queue', 'hold', '-C', bad, ID],
    ['check'],
    ['config', 'check'],
    ['migrate-spool'],
    ['oauth', 'status'],
    ['serve', '--listen', '127.0.0.1:1'],
  ]) {
    // -C anywhere: before the subcommand word, or after it (the queue row).
    const r = await run(OUTBOX, args.includes('-C') ? args : [args[0]!, '-C', bad, ...args.slice(1)], { env });
    assert.equal(r.code, 78, `${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
    assert.ok(r.stderr.includes('broken.toml'), `${args.join(' ')}: ${r.stderr}`);
  }
  // The monitoring check keeps its plugin convention: UNKNOWN (3), the reason on stdout.
  const q = await run(OUTBOX, ['check', '--queue', '-C', bad], { env });
  assert.equal(q.code, 3, q.stdout);
  assert.match(q.stdout, /^OUTBOX QUEUE UNKNOWN - .*broken\.toml/);
});

test('an unknown option is exit 64 with one line of the same wording in every command', async () => {
  const env = bareEnv(spool().dir);
  for (const [args, form] of [
    [['deliver'], 'deliver'],
    [['pickup'], 'pickup'],
    [['check'], 'check'],
    [['config', 'check'], 'config check'],
    [['config', 'migrate'], 'config migrate'],
    [['queue', 'hold'], 'queue hold'],
    [['queue', 'show'], 'queue show'],
    [['migrate-spool'], 'migrate-spool'],
    [['serve'], 'serve'],
    [['oauth', 'login'], 'oauth login'],
    [['oauth', 'status'], 'oauth status'],
  ] as const) {
    const r = await run(OUTBOX, [...args, '--frobnicate'], { env });
    assert.equal(r.code, 64, `${form}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `outbox: ${form}: unknown option "--frobnicate" (see outbox ${args[0]} --help)\n`);
  }
  const c = await run(OUTBOX, ['pickup', '-C'], { env });
  assert.equal(c.code, 64);
  assert.equal(c.stderr, 'outbox: pickup: -C needs a file name (see outbox pickup --help)\n');
});

test('a bare `outbox` prints its usage on stderr and exits 64; it does not read a message', async () => {
  const t = spool();
  const r = await run(OUTBOX, [], { env: { OUTBOX_SPOOL: t.spool }, input: MSG });
  assert.equal(r.code, 64, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, programUsage('outbox') + '\n');
  assert.deepEqual(controls(t.spool), [], 'nothing queued');
  // With sendmail flags, `outbox` is still sendmail.
  const s = await run(OUTBOX, ['-odq', 'a@example.com'], { env: { OUTBOX_SPOOL: t.spool }, input: MSG });
  assert.equal(s.code, 0, s.stderr);
  assert.equal(controls(t.spool).length, 1);
});
