// bench/latency.ts — from `sendmail -t -i` to the relay's Maildir, Outbox against dma and a
// Postfix relay client, all measured in one run against one real Postfix smarthost.
//
// Every path sends to the same private Postfix smarthost (test/helpers/postfix.ts: 587-style
// submission on a free loopback port, STARTTLS required, then AUTH PLAIN) and the clock stops when
// the message appears in the smarthost's Maildir (inotify on Maildir/new). Prints:
//  1. one message at a time (3 KB, RUNS messages, the paths interleaved round by round so machine
//     noise hits all alike), median and p90 of: the Postfix relay client (a second Postfix
//     instance, a null client relaying to the smarthost, `sendmail -C DIR`), dma (Debian's
//     package files unpacked into a temp dir, not installed: see below), Outbox's default `-odb`
//     with no daemon (the lingering runner), Outbox with `[delivery] linger = 0` (every message
//     kicks a fresh `outbox deliver`), Outbox with `sendmail -bd -q1h` running as the same user,
//     and the submit-only baselines: Outbox `-odq`, `node -e 0` and `node --jitless -e 0` on the
//     pinned node the executable is built from; and the installed layout: a system spool owned by
//     a runner user, the daemon started by root, and an unprivileged user (setpriv) whose
//     `sendmail` drops into incoming/. Targets: default path median <= dma's; daemon path <=
//     `-odq` submit + 10 ms; system spool <= 1.3x the same-user daemon path. The users are created
//     in the private mount namespace's /etc overlay (below), so they vanish with the run.
//  2. a burst of BURST messages submitted back to back (each `sendmail` starts when the previous
//     one exits): time from the first start until all are in the Maildir, Outbox's default path
//     (fresh spool, no runner yet; then again with the runner of that burst still lingering)
//     against the Postfix relay client and dma, and the floor of any Node program: BURST times
//     `node -e 0` and BURST times `sendmail -t -i -odq` (submission alone), back to back. Target:
//     Outbox within 1.5x of Postfix.
//  3. a profile of one cold kicked delivery (`outbox deliver -v ID`, what the kick runs), the
//     medians over PROFILE runs of the gaps between its `-v` lines, stamped as they arrive on the
//     pipe; the EHLO round trip right after the TLS handshake from a raw client (written in the
//     handshake callback as nodemailer does, written once the relay's TLS 1.3 session ticket is
//     in as relay/ticket-wait.ts does, and under TLS 1.2); and the
//     in-process cost of a TLS context (pinned node, --jitless) with Node's bundled roots, the
//     system bundle and one CA file.
//
// dma reads /etc/dma/dma.conf and has no option to read another file (dma(8) lists -A -b -D -f
// -i -L -O -o -q -r -t; the path is compiled in: `strings dma | grep dma.conf`), so this script
// re-runs itself in a private mount namespace (`unshare -m`) and mounts an overlay on /etc there
// whose upper layer holds dma/dma.conf and dma/auth.conf. The host's /etc is never written; the
// overlay and both Postfix instances go away with the run. Must run as root, after a build (`npm
// run build`) and with Postfix installed (`scripts/test/postfix-smarthost.sh install`); it downloads
// the dma package with `apt-get download dma` unless DMA_DEB names a .deb already at hand.
// Usage: node dist/bench/latency.js [runs=30] [burst=50] [profile=10]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { usePostfixSmarthost } from '../test/helpers/postfix.js';
import { REPO as root } from '../test/helpers/run.js';
import { ensureUser, systemSpool } from '../test/helpers/users.js';
import { f1, median, message, ms, now, p90, pinnedNode as node } from './stats.js';

const self = fileURLToPath(import.meta.url);
const RUNS = Number(process.argv[2] ?? 30);
const BURST = Number(process.argv[3] ?? 50);
const PROFILE = Number(process.argv[4] ?? 10);
const WAIT_MS = 30_000; // bound on any one wait for the Maildir

if (process.getuid?.() !== 0) {
  console.error('bench/latency: must run as root (Postfix instances, a mount namespace for dma)');
  process.exit(2);
}
if (!process.env.OUTBOX_BENCH_LATENCY_NS) {
  // Re-run inside a private mount namespace (see the header), then exit with its status.
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', process.execPath, self, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, OUTBOX_BENCH_LATENCY_NS: '1' },
  });
  process.exit(r.status ?? 1);
}

const sendmail = path.join(root, 'build', 'sendmail');
const outbox = path.join(root, 'build', 'outbox');
for (const f of [sendmail, '/usr/sbin/postconf', '/usr/sbin/postfix']) {
  if (!fs.existsSync(f)) {
    console.error(`bench/latency: ${f} is missing (npm run build; scripts/test/postfix-smarthost.sh install)`);
    process.exit(2);
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-bench-latency-'));
fs.chmodSync(dir, 0o755); // Postfix's unprivileged processes traverse it
// Undo everything at exit, also after an error (all synchronous: it runs in the 'exit' event).
const cleanups: (() => void)[] = [];
function cleanup() {
  for (const f of cleanups.reverse()) {
    try {
      f();
    } catch (e) {
      console.error(`bench/latency: cleanup: ${(e as Error).message}`);
    }
  }
  cleanups.length = 0;
  fs.rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
const pause = (msecs: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, msecs);

const sleep = (msecs: number) => new Promise((r) => setTimeout(r, msecs));

// ---------------------------------------------------------------------------------------------
// The smarthost, the Postfix relay client, dma.
// ---------------------------------------------------------------------------------------------
const { sh, stop } = await usePostfixSmarthost();
cleanups.push(stop);
const { port, ca, user: USER, password: PASSWORD } = sh;
const shDir = path.dirname(sh.maildir); // the instance's directory: etc/master.cf, Maildir
const newDir = path.join(sh.maildir, 'new');

// The Postfix relay client: a second instance, a null client (no local delivery, no listener)
// relaying everything to the smarthost with STARTTLS (certificate verified against the test CA,
// name = the next hop "localhost") and AUTH; Postfix's defaults otherwise.
const pc = path.join(dir, 'postfix-client');
fs.mkdirSync(path.join(pc, 'etc'), { recursive: true });
fs.mkdirSync(path.join(pc, 'queue'));
fs.mkdirSync(path.join(pc, 'data'));
execFileSync('chown', ['postfix', path.join(pc, 'data')]);
fs.writeFileSync(path.join(pc, 'etc', 'main.cf'), '');
execFileSync('/usr/sbin/postconf', [
  '-c',
  path.join(pc, 'etc'),
  '-e',
  'compatibility_level = 3.6',
  `queue_directory = ${pc}/queue`,
  `data_directory = ${pc}/data`,
  'mail_owner = postfix',
  'setgid_group = postdrop',
  'myhostname = client.example.org',
  'myorigin = example.com',
  'mydestination =',
  'inet_interfaces = loopback-only',
  'inet_protocols = ipv4',
  'local_transport = error:local delivery disabled',
  'alias_maps =',
  'alias_database =',
  `maillog_file = ${pc}/postfix.log`,
  `maillog_file_prefixes = ${pc}`,
  `relayhost = [localhost]:${port}`,
  'smtp_dns_support_level = disabled',
  'smtp_tls_security_level = secure',
  'smtp_tls_secure_cert_match = nexthop',
  `smtp_tls_CAfile = ${ca}`,
  'smtp_sasl_auth_enable = yes',
  `smtp_sasl_password_maps = static:${USER}:${PASSWORD}`,
  'smtp_sasl_security_options = noanonymous',
  'smtp_sasl_tls_security_options = noanonymous',
]);
// The smarthost's master.cf minus its listener (the lines for 127.0.0.1:PORT and its -o).
fs.writeFileSync(
  path.join(pc, 'etc', 'master.cf'),
  fs
    .readFileSync(path.join(shDir, 'etc', 'master.cf'), 'utf8')
    .split('\n')
    .filter((l) => !/^127\.0\.0\.1:|^\s+-o /.test(l))
    .join('\n'),
);
execFileSync('/usr/sbin/postfix', ['-c', path.join(pc, 'etc'), 'start'], { stdio: 'ignore' });
cleanups.push(() => execFileSync('/usr/sbin/postfix', ['-c', path.join(pc, 'etc'), 'stop'], { stdio: 'ignore' }));

// dma: the package's files, unpacked; its config through an overlay on /etc (this namespace only).
const dmaDir = path.join(dir, 'dma');
fs.mkdirSync(dmaDir);
let deb = process.env.DMA_DEB;
if (!deb) {
  execFileSync('apt-get', ['download', 'dma'], { cwd: dmaDir, stdio: ['ignore', 'ignore', 'ignore'] });
  deb = path.join(dmaDir, fs.readdirSync(dmaDir).find((f) => f.endsWith('.deb')) ?? 'dma.deb');
}
const dmaVersion = execFileSync('dpkg-deb', ['-f', deb, 'Version'], { encoding: 'utf8' }).trim();
execFileSync('dpkg-deb', ['-x', deb, path.join(dmaDir, 'root')]);
const dma = path.join(dmaDir, 'root', 'usr', 'sbin', 'dma');
for (const d of ['upper/dma', 'work', 'spool']) fs.mkdirSync(path.join(dmaDir, d), { recursive: true });
fs.writeFileSync(path.join(dmaDir, 'aliases'), '');
// MAILNAME must differ from the recipients' domain: dma strips the domain of addresses in its own.
fs.writeFileSync(
  path.join(dmaDir, 'upper', 'dma', 'dma.conf'),
  [
    'SMARTHOST localhost',
    `PORT ${port}`,
    `ALIASES ${dmaDir}/aliases`,
    `SPOOLDIR ${dmaDir}/spool`,
    'AUTHPATH /etc/dma/auth.conf',
    'SECURETRANSFER',
    'STARTTLS',
    'MAILNAME client.example.org',
    'NULLCLIENT',
    '',
  ].join('\n'),
);
fs.writeFileSync(path.join(dmaDir, 'upper', 'dma', 'auth.conf'), `${USER}|localhost:${PASSWORD}\n`, { mode: 0o640 });
// dma runs set-group-id mail in its package: its spool and auth.conf belong to group mail.
execFileSync('chgrp', ['mail', path.join(dmaDir, 'upper', 'dma', 'auth.conf'), path.join(dmaDir, 'spool')]);
fs.chmodSync(path.join(dmaDir, 'spool'), 0o2775);
execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=/etc,upperdir=${dmaDir}/upper,workdir=${dmaDir}/work`, '/etc']);
cleanups.unshift(() => execFileSync('umount', ['/etc'])); // last: after both Postfix instances stopped

// Outbox: one spool per path, all configured from the environment only.
const pwFile = path.join(dir, 'password');
fs.writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
const linger0 = path.join(dir, 'linger0.conf');
fs.writeFileSync(linger0, '[delivery]\nlinger = 0\n');
const outboxEnv = (name: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  PATH: '/usr/bin:/bin',
  HOME: dir,
  LANG: 'C.UTF-8',
  OUTBOX_SPOOL: path.join(dir, `spool-${name}`),
  OUTBOX_RELAY: `smtp+starttls://${USER}@localhost:${port}`,
  OUTBOX_RELAY_PASSWORD_FILE: pwFile,
  OUTBOX_RELAY_CA: ca,
  OUTBOX_DOMAIN: 'example.com',
  ...extra,
});
const plainEnv: NodeJS.ProcessEnv = { PATH: '/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8' };

// ---------------------------------------------------------------------------------------------
// Timing helpers.
// ---------------------------------------------------------------------------------------------
const maildirCount = () => fs.readdirSync(newDir).length;

// Resolves with the time at which Maildir/new first holds >= target files (bounded).
function arrival(target: number): Promise<bigint> {
  return new Promise((resolve, reject) => {
    let done = false;
    const check = () => {
      if (done || maildirCount() < target) return;
      const t = now();
      finish();
      resolve(t);
    };
    const watcher = fs.watch(newDir, check);
    const poll = setInterval(check, 50);
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`Maildir holds ${maildirCount()} of ${target} messages after ${WAIT_MS} ms`));
    }, WAIT_MS);
    function finish() {
      done = true;
      watcher.close();
      clearInterval(poll);
      clearTimeout(timer);
    }
    check();
  });
}

// Starts cmd with input on stdin; resolves with the time it exited (rejects on failure/timeout).
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: Buffer): Promise<bigint> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), WAIT_MS);
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? signal}: ${err.trim()}`));
      else resolve(now());
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

// One message from start to Maildir: { total, submit } in ms.
async function oneMessage(cmd: string, args: string[], env: NodeJS.ProcessEnv, tag: string) {
  const target = maildirCount() + 1;
  const t0 = now();
  const [exited, arrived] = await Promise.all([run(cmd, args, env, message(tag)), arrival(target)]);
  return { total: ms(t0, arrived), submit: ms(t0, exited) };
}

async function waitFile(file: string, present: boolean, limitMs: number) {
  for (let i = 0; i < limitMs / 25; i++) {
    if (fs.existsSync(file) === present) return;
    await sleep(25);
  }
  throw new Error(`${file} ${present ? 'did not appear' : 'still there'} after ${limitMs} ms`);
}

// ---------------------------------------------------------------------------------------------
// 1. One message at a time.
// ---------------------------------------------------------------------------------------------
const daemonEnv = outboxEnv('daemon', { OUTBOX_LOG: 'stderr' });
const daemon = spawn(sendmail, ['-bd', '-q1h'], { env: daemonEnv, stdio: ['ignore', 'ignore', 'ignore'] });
/** SIGTERM to a daemon we started, and a bounded wait for it to end (synchronous: for 'exit'). */
function stopDaemon(child: ReturnType<typeof spawn>): void {
  const pid = child.pid ?? 0;
  child.kill('SIGTERM');
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0); // still there (or a zombie: then it is done)
    } catch {
      return;
    }
    if (fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')) return;
    pause(25);
  }
}
cleanups.push(() => stopDaemon(daemon));
await waitFile(path.join(daemonEnv.OUTBOX_SPOOL!, 'run', 'daemon.pid'), true, 10_000);
// The installed layout: a system spool owned by a runner user (scripts/package/mkspool.sh, as install.sh
// makes it), a daemon started by root (it drops to that user), and an unprivileged user whose
// `sendmail` drops the message into incoming/ (the daemon watches it and picks it up). The users
// are created in this mount namespace's /etc overlay only: they vanish with the run.
const runner = ensureUser('obx-bench-run');
const submitter = ensureUser('obx-bench-user');
const sys = systemSpool(runner);
cleanups.push(() => sys.cleanup());
const sysPassword = path.join(sys.dir, 'relay.password');
fs.writeFileSync(sysPassword, `${PASSWORD}\n`, { mode: 0o640 });
fs.chownSync(sysPassword, 0, runner.gid);
const sysCa = path.join(sys.dir, 'ca.pem');
fs.copyFileSync(ca, sysCa);
fs.chmodSync(sysCa, 0o644);
const sysEnv: NodeJS.ProcessEnv = { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', ...sys.env };
const sysDaemon = spawn(sendmail, ['-bd', '-q1h'], {
  env: { ...sysEnv, OUTBOX_RELAY: `smtp+starttls://${USER}@localhost:${port}`, OUTBOX_RELAY_PASSWORD_FILE: sysPassword, OUTBOX_RELAY_CA: sysCa },
  stdio: ['ignore', 'ignore', 'ignore'],
});
cleanups.push(() => stopDaemon(sysDaemon)); // runs before sys.cleanup (cleanups run in reverse)
await waitFile(path.join(sys.spool, 'run', 'query.sock'), true, 10_000);
// The lingering runners of the default-path spools are our children's children: end them by
// their pid files when the run ends.
for (const name of ['default', 'linger0', 'burst', 'burst-odq']) {
  cleanups.push(() => {
    const pidFile = path.join(dir, `spool-${name}`, 'run', 'daemon.pid');
    const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').trim().split(/\s/)[0]) : 0;
    if (pid > 1) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone already
      }
    }
  });
}

interface Path {
  name: string;
  cmd: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  delivers: boolean;
  key?: string;
}
const paths: Path[] = [
  {
    name: 'Postfix relay client (sendmail -C DIR -t -i)',
    cmd: '/usr/sbin/sendmail',
    args: ['-C', path.join(pc, 'etc'), '-t', '-i'],
    env: plainEnv,
    delivers: true,
  },
  { name: `dma ${dmaVersion} (forks a deliverer)`, cmd: dma, args: ['-t', '-i'], env: plainEnv, delivers: true },
  { name: 'Outbox default -odb, no daemon (lingering runner)', cmd: sendmail, args: ['-t', '-i'], env: outboxEnv('default'), delivers: true, key: 'default' },
  {
    name: 'Outbox -odb with linger = 0 (a fresh kick each time)',
    cmd: sendmail,
    args: ['-t', '-i'],
    env: outboxEnv('linger0', { OUTBOX_CONFIG: linger0 }),
    delivers: true,
  },
  { name: 'Outbox with sendmail -bd -q1h (same user)', cmd: sendmail, args: ['-t', '-i'], env: daemonEnv, delivers: true, key: 'daemon' },
  {
    name: 'Outbox system spool: a user drops into incoming/, daemon started by root (setpriv --reuid USER sendmail)',
    cmd: 'setpriv',
    args: ['--reuid', submitter.name, '--regid', submitter.name, '--init-groups', sendmail, '-t', '-i'],
    env: sysEnv,
    delivers: true,
    key: 'system',
  },
  { name: 'Outbox -odq, submit alone', cmd: sendmail, args: ['-t', '-i', '-odq'], env: outboxEnv('odq'), delivers: false, key: 'odq' },
  { name: 'node -e 0 (pinned node)', cmd: node, args: ['-e', '0'], env: plainEnv, delivers: false },
  { name: 'node --jitless -e 0 (pinned node)', cmd: node, args: ['--jitless', '-e', '0'], env: plainEnv, delivers: false },
];
const results = new Map(paths.map((p) => [p.name, { total: [] as number[], submit: [] as number[] }]));

async function measure(p: Path, tag: string) {
  if (p.delivers) return oneMessage(p.cmd, p.args, p.env, tag);
  const t0 = now();
  const t1 = await run(p.cmd, p.args, p.env, message(tag));
  return { total: ms(t0, t1), submit: ms(t0, t1) };
}

// Warm-up round (page cache, the daemon's session, the first lingering runner), not counted.
for (const p of paths) await measure(p, 'warm-up');
for (let i = 0; i < RUNS; i++) {
  for (const p of paths) {
    const r = await measure(p, `latency ${i}`);
    results.get(p.name)!.total.push(r.total);
    results.get(p.name)!.submit.push(r.submit);
  }
}

console.log(
  `bench/latency: ${new Date().toISOString()}, ${os.cpus().length} CPUs, load ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
console.log(
  `smarthost: Postfix ${execFileSync('/usr/sbin/postconf', ['-d', '-h', 'mail_version'], { encoding: 'utf8' }).trim()} on 127.0.0.1:${port}, STARTTLS + AUTH PLAIN, Maildir`,
);
console.log(`\n1. sendmail -t -i, 3 KB, one at a time, ${RUNS} rounds (paths interleaved): start -> message in the relay's Maildir`);
console.log('| path | median ms | p90 ms | submit exits, median ms |');
console.log('|---|---|---|---|');
const med: Record<string, number> = {};
for (const p of paths) {
  const r = results.get(p.name)!;
  if (p.key) med[p.key] = median(r.total);
  console.log(`| ${p.name} | ${f1(median(r.total))} | ${f1(p90(r.total))} | ${p.delivers ? f1(median(r.submit)) : '-'} |`);
}
const dmaMed = median(results.get(paths[1]!.name)!.total);
const [postfixPath] = paths as [Path];
const { default: mDefault = 0, daemon: mDaemon = 0, odq: mOdq = 0 } = med;
console.log(
  `default path vs dma: ${f1(mDefault)} vs ${f1(dmaMed)} ms, ratio ${(mDefault / dmaMed).toFixed(2)} (target <= 1.00: ${mDefault <= dmaMed ? 'met' : 'NOT met'})`,
);
console.log(
  `daemon path vs -odq submit: ${mDaemon >= mOdq ? '+' : ''}${f1(mDaemon - mOdq)} ms (target <= +10 ms: ${mDaemon - mOdq <= 10 ? 'met' : 'NOT met'})`,
);
const { system: mSystem = 0 } = med;
console.log(
  `system spool (a drop, picked up) vs the same-user daemon path: ${f1(mSystem)} vs ${f1(mDaemon)} ms, ratio ${(mSystem / mDaemon).toFixed(2)} (target <= 1.3: ${mSystem <= 1.3 * mDaemon ? 'met' : 'NOT met'})`,
);

// ---------------------------------------------------------------------------------------------
// 2. A burst.
// ---------------------------------------------------------------------------------------------
/** BURST runs of cmd back to back; with delivers, also until all are in the Maildir. */
async function burst(cmd: string, args: string[], env: NodeJS.ProcessEnv, delivers = true) {
  const target = maildirCount() + BURST;
  const t0 = now();
  const all = delivers ? arrival(target) : Promise.resolve(0n);
  all.catch(() => {});
  for (let i = 0; i < BURST; i++) await run(cmd, args, env, message(`burst ${i}`));
  const submitted = now();
  const arrived = delivers ? await all : submitted;
  return { total: ms(t0, arrived), submit: ms(t0, submitted) };
}
// Let the Postfix client's and dma's earlier deliveries settle.
await sleep(1000);
const bPostfix = await burst(postfixPath.cmd, postfixPath.args, postfixPath.env);
const bDma = await burst(dma, ['-t', '-i'], plainEnv);
const bOutbox = await burst(sendmail, ['-t', '-i'], outboxEnv('burst'));
const bOutboxWarm = await burst(sendmail, ['-t', '-i'], outboxEnv('burst'));
const bNode = await burst(node, ['-e', '0'], plainEnv, false);
const bOdq = await burst(sendmail, ['-t', '-i', '-odq'], outboxEnv('burst-odq'), false);
console.log(`\n2. a burst of ${BURST} messages submitted back to back: first start -> all in the relay's Maildir (all submitted)`);
console.log(`Postfix relay client: ${f1(bPostfix.total)} ms (${f1(bPostfix.submit)} ms)`);
console.log(`dma: ${f1(bDma.total)} ms (${f1(bDma.submit)} ms)`);
console.log(`Outbox default path, no runner at the start: ${f1(bOutbox.total)} ms (${f1(bOutbox.submit)} ms)`);
console.log(`Outbox default path, the runner of that burst still lingering: ${f1(bOutboxWarm.total)} ms (${f1(bOutboxWarm.submit)} ms)`);
console.log(`floor: ${BURST} x node -e 0 (pinned node) ${f1(bNode.submit)} ms; ${BURST} x sendmail -t -i -odq (submission alone) ${f1(bOdq.submit)} ms`);
const ratio = (x: number) => `${(x / bPostfix.total).toFixed(2)}`;
console.log(
  `Outbox / Postfix: ${ratio(bOutbox.total)} (target <= 1.5: ${bOutbox.total <= 1.5 * bPostfix.total ? 'met' : 'NOT met'}); lingering ${ratio(bOutboxWarm.total)}; ` +
    `floor node -e 0 ${ratio(bNode.submit)}, -odq ${ratio(bOdq.submit)}`,
);

// ---------------------------------------------------------------------------------------------
// 3. Profile of a cold kicked delivery.
// ---------------------------------------------------------------------------------------------
const profEnv = outboxEnv('profile');
const marks: [string, RegExp | null][] = [
  ['start', null],
  ['queue active', /\(queue active\)/],
  ['greeting', /<<< 220 /],
  ['STARTTLS', />>> STARTTLS/],
  ['TLS ready', /<<< 220 /],
  ['EHLO after TLS', />>> EHLO/],
  ['EHLO reply', /<<< 250 /],
  ['AUTH sent', />>> AUTH /],
  ['AUTH ok', /<<< 235 /],
  ['250 queued', /<<< 250 .*queued/],
  ['removed', /: removed/],
];
const gaps: number[][] = marks.slice(1).map(() => []);
const exits: number[] = [];
for (let i = 0; i < PROFILE; i++) {
  await run(sendmail, ['-t', '-i', '-odq'], profEnv, message(`profile ${i}`));
  const id = fs.readdirSync(path.join(profEnv.OUTBOX_SPOOL!, 'ctl')).map((f) => f.replace(/\..*/, ''))[0]!;
  const target = maildirCount() + 1;
  const stamps: bigint[] = [];
  const t0 = now();
  const child = spawn(outbox, ['deliver', '-v', id], { env: profEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let buf = '';
  let m = 1;
  child.stderr.on('data', (d) => {
    const t = now();
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (m < marks.length && marks[m]![1]!.test(line)) stamps[m++] = t;
    }
  });
  const code = await new Promise((resolve) => child.on('close', resolve));
  const t1 = now();
  await arrival(target);
  if (code !== 0 || m !== marks.length) throw new Error(`profile run ${i}: exit ${code}, ${m} of ${marks.length} marks`);
  stamps[0] = t0;
  for (let k = 1; k < marks.length; k++) gaps[k - 1]!.push(ms(stamps[k - 1]!, stamps[k]!));
  exits.push(ms(stamps[marks.length - 1]!, t1));
}
const tlsCtx = (expr: string) =>
  Number(
    execFileSync(
      node,
      [
        '--jitless',
        '-e',
        `const tls=require('node:tls'),fs=require('node:fs');const t=process.hrtime.bigint();${expr};console.log(Number(process.hrtime.bigint()-t)/1e6)`,
      ],
      { encoding: 'utf8', env: plainEnv },
    ).trim(),
  );
const ctxBundled = median(Array.from({ length: 5 }, () => tlsCtx('tls.createSecureContext({})')));
const ctxSystem = median(Array.from({ length: 5 }, () => tlsCtx(`tls.createSecureContext({ca:fs.readFileSync('/etc/ssl/certs/ca-certificates.crt')})`)));
const ctxOne = median(Array.from({ length: 5 }, () => tlsCtx(`tls.createSecureContext({ca:fs.readFileSync(${JSON.stringify(ca)})})`)));
// The EHLO right after the TLS handshake, from a raw client in this process: written at once (as
// nodemailer does), written once the TLS 1.3 session ticket is in (as relay/ticket-wait.ts makes
// the session do; the write goes out of the 'session' event, not in it), and under TLS 1.2 (the
// ticket comes within the handshake).
function ehloAfterTls(maxVersion: tls.SecureVersion, afterTicket: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('EHLO probe timed out'));
    }, WAIT_MS);
    let buf = '';
    let step = 0;
    sock.on('error', reject);
    sock.on('data', (d) => {
      buf += d;
      if (!/^\d{3} /m.test(buf)) return;
      buf = '';
      if (step === 0) sock.write('EHLO probe.example.org\r\n');
      else if (step === 1) sock.write('STARTTLS\r\n');
      else {
        sock.removeAllListeners('data');
        let ticket = false;
        const t = tls.connect({ socket: sock, ca: fs.readFileSync(ca), servername: 'localhost', maxVersion }, () => {
          let reply = '';
          let t0 = 0n;
          t.on('data', (r) => {
            reply += r;
            if (!/^250 /m.test(reply)) return;
            const took = ms(t0, now());
            clearTimeout(timer);
            t.destroy();
            resolve(took);
          });
          const send = () => {
            t0 = now();
            t.write('EHLO probe.example.org\r\n');
          };
          if (!afterTicket || ticket)
            send(); // in the handshake callback, as nodemailer does
          else t.once('session', () => setImmediate(send));
        });
        t.on('session', () => (ticket = true));
        t.on('error', reject);
      }
      step++;
    });
  });
}
const probe = async (v: tls.SecureVersion, afterTicket: boolean) => {
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) xs.push(await ehloAfterTls(v, afterTicket));
  return median(xs);
};
const ehlo13 = await probe('TLSv1.3', false);
const ehlo13ticket = await probe('TLSv1.3', true);
const ehlo12 = await probe('TLSv1.2', false);
console.log(`\n3. a cold kicked delivery, outbox deliver -v ID (what the kick runs), medians of ${PROFILE}:`);
console.log('| step | from -> to | median ms |');
console.log('|---|---|---|');
const labels = [
  'process start, module load, config, spool read, lock',
  "TLS context, TCP connect, the relay's greeting",
  'EHLO round trip',
  'STARTTLS round trip',
  "TLS handshake (and the relay's session ticket)",
  'EHLO round trip (after TLS)',
  'credentials, AUTH sent',
  'AUTH round trip',
  'transaction: MAIL, RCPT, DATA (pipelined), 250',
  'spool clean-up, log',
];
for (let k = 0; k < labels.length; k++) console.log(`| ${labels[k]} | ${marks[k]![0]} -> ${marks[k + 1]![0]} | ${f1(median(gaps[k]!))} |`);
console.log(`| process exit | removed -> exit | ${f1(median(exits))} |`);
console.log(
  `EHLO round trip right after the handshake (a raw client, median of 5): TLS 1.3 written at once ${f1(ehlo13)} ms, TLS 1.3 written after the session ticket ${f1(ehlo13ticket)} ms, TLS 1.2 at once ${f1(ehlo12)} ms`,
);
console.log(
  `TLS context (pinned node, --jitless, in-process): Node's bundled roots ${f1(ctxBundled)} ms, /etc/ssl/certs/ca-certificates.crt ${f1(ctxSystem)} ms, one CA file ${f1(ctxOne)} ms`,
);

// The daemon, watchers and lingering runners would keep this process alive: end them now.
process.exit(0);
