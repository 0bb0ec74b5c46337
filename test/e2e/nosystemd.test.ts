/**
 * End to end: running Outbox without systemd, exactly as docs/installation.md "Without systemd" says — the
 * daemon started with `setpriv --reuid=outbox --regid=outbox --init-groups outbox -bd`, and the
 * timer's queue run as the cron line `outbox -q` run by the spool owner — on a system spool, with an ordinary user submitting
 * and the scripted relay receiving. Needs root (users; run under /tmp/outbox-system.lock).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OUTBOX, SENDMAIL, run, sleep, start } from '../helpers/run.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { asUser, ensureUser, removeUsers, requireRoot, systemSpool, type TestUser } from '../helpers/users.js';

const SECRET = 'no-systemd-secret';
const SETPRIV = 'setpriv';
/** setpriv execs the command: the daemon keeps its pid and receives signals itself (runuser and su
 * stay in between and SIGKILL their child 2 s after a SIGTERM, cutting the daemon's grace time). */
const asOwner = (cmd: string[]) => [`--reuid=${runner.name}`, `--regid=${runner.name}`, '--init-groups', '--', ...cmd];
let runner: TestUser;
let alice: TestUser;
let sp: ReturnType<typeof systemSpool>;
let relay: TestRelay;

before(async () => {
  requireRoot();
  runner = ensureUser('obx-ns-run');
  alice = ensureUser('obx-ns-alice');
  relay = await startRelay({ users: { outbox: SECRET }, acceptDelayMs: 0 });
  sp = systemSpool(runner);
  // As docs/privilege-model.md: the password file root:<runner's group> 0640.
  const pw = path.join(sp.dir, 'relay.password');
  fs.writeFileSync(pw, SECRET + '\n', { mode: 0o640 });
  fs.chownSync(pw, 0, runner.gid);
  fs.chmodSync(pw, 0o640);
  const ca = path.join(sp.dir, 'ca.pem');
  fs.copyFileSync(relay.caFile, ca);
  fs.chmodSync(ca, 0o644);
  fs.appendFileSync(sp.config, `\n[relay.main]\nurl = "${relay.url()}"\npassword_file = "${pw}"\nca_file = "${ca}"\n`);
});
after(async () => {
  await relay?.close();
  sp?.cleanup();
  removeUsers(['obx-ns-run', 'obx-ns-alice']);
});

const submit = (rcpt: string) => asUser(alice, SENDMAIL, ['-i', rcpt], { env: sp.env, input: `Subject: ${rcpt}\n\nhello\n` });

async function received(n: number, log: () => string): Promise<void> {
  for (let i = 0; i < 400 && relay.received.length < n; i++) await sleep(50);
  assert.equal(relay.received.length, n, log());
}

test('the daemon started with setpriv as the spool owner delivers what a user submits, and stops on SIGTERM', async () => {
  // docs/installation.md: setpriv --reuid=outbox --regid=outbox --init-groups -- /usr/local/sbin/outbox -bd
  const daemon = start(SETPRIV, asOwner([OUTBOX, '-bd']), { env: { ...sp.env, OUTBOX_LOG: 'stderr' } });
  let log = '';
  daemon.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((r) => daemon.on('close', (code, signal) => r(code ?? signal)));
  let pid = 0;
  try {
    const sock = path.join(sp.spool, 'run', 'query.sock');
    for (let i = 0; i < 200 && !fs.existsSync(sock); i++) await sleep(50);
    assert.ok(fs.existsSync(sock), `the daemon did not start: ${log}`);
    assert.equal(fs.statSync(path.join(sp.spool, 'run', 'daemon.pid')).uid, runner.uid, 'runs as the spool owner');
    pid = Number(fs.readFileSync(path.join(sp.spool, 'run', 'daemon.pid'), 'utf8'));
    assert.equal(pid, daemon.pid, 'the daemon is the process that was started');
    assert.equal(fs.statSync(`/proc/${pid}`).uid, runner.uid);
    const s = await submit('daemon@example.com');
    assert.equal(s.code, 0, s.stderr);
    await received(1, () => log);
    assert.deepEqual(relay.received[0]!.rcptTo, ['daemon@example.com']);
  } finally {
    daemon.kill('SIGTERM');
  }
  const code = await Promise.race([exited, sleep(20_000).then(() => 'timeout' as const)]);
  if (code === 'timeout') daemon.kill('SIGKILL');
  assert.equal(code, 0, `outbox -bd ended with ${code} after SIGTERM: ${log}`);
  assert.ok(!fs.existsSync(path.join(sp.spool, 'run', 'query.sock')), 'and cleaned up after itself');
});

test('the cron queue run (outbox -q as the spool owner) picks up and delivers', async () => {
  const s = await submit('cron@example.com');
  assert.equal(s.code, 0, s.stderr);
  assert.equal(fs.readdirSync(path.join(sp.spool, 'incoming')).filter((n) => n.endsWith('.env')).length, 1, 'waiting, no daemon');
  // What cron runs for the line "*/5 * * * * outbox /usr/local/sbin/outbox -q": /bin/sh -c CMD as outbox.
  const r = await run(SETPRIV, asOwner(['/bin/sh', '-c', `${OUTBOX} -q`]), { env: { ...sp.env, OUTBOX_LOG: 'stderr' }, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  await received(2, () => r.stderr);
  assert.deepEqual(relay.received[1]!.rcptTo, ['cron@example.com']);
  assert.deepEqual(fs.readdirSync(path.join(sp.spool, 'ctl')), [], 'delivered and removed');
});
