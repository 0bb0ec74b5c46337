// bench/queue.ts — how Outbox copes with big queues: mailq time and memory, and the queue
// runner's start-up delay, rate and memory, at 1,000, 10,000 and 100,000 queued messages, so
// that the growth is visible (it should be linear or better).
//
// For each size N the queue is written straight into a fresh spool in the spool's own format
// (test/helpers/queue-gen.ts: same files as a submission, without the fsyncs), then:
//  1. `mailq` (the built single executable, stdout to a pipe that is drained): median wall time
//     of 3 runs and peak RSS (VmHWM); target < 2 s at 100,000;
//  2. `mailq` on an empty spool in the same run, as the baseline (process start-up);
//  3. `sendmail -q` against the local test relay (test/helpers/relay.ts, STARTTLS + AUTH on
//     127.0.0.1): time to the first delivered message, delivery rate, connections opened, and
//     the runner's peak RSS, over the first DELIVER messages (default 5,000: then SIGTERM,
//     which abandons nothing — the rest stays queued); --full delivers everything.
// Needs a built tree (npm run build). Usage:
//   node dist/bench/queue.js [--sizes=1000,10000,100000] [--deliver=5000] [--full]
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { generateQueue } from '../test/helpers/queue-gen.js';
import { cleanEnv, REPO, tempSpool } from '../test/helpers/run.js';
import { relayEnv, watchPeakRss } from '../test/helpers/torture.js';

const arg = (name: string, def: string): string => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
};
const sizes = arg('sizes', '1000,10000,100000').split(',').map(Number);
const full = process.argv.includes('--full');
const deliverCap = full ? Infinity : Number(arg('deliver', '5000'));
const mailqBin = path.join(REPO, 'build', 'mailq');
const sendmailBin = path.join(REPO, 'build', 'sendmail');

interface Measured {
  ms: number;
  rssKB: number;
  bytes: number;
}

/** Run a command, drain stdout, return { ms, rssKB, bytes }. */
function measure(cmd: string, args: string[], env: Record<string, string | undefined>): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'inherit'] });
    const peak = watchPeakRss(child, 20);
    let bytes = 0;
    child.stdout.on('data', (d: Buffer) => (bytes += d.length));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) reject(new Error(`${cmd} exited ${code}`));
      else resolve({ ms, rssKB: peak(), bytes });
    });
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (kb: number): string => (kb / 1024).toFixed(0);

const empty = tempSpool('outbox-bench-empty-');
const baseline: Measured[] = [];
for (let i = 0; i < 3; i++) baseline.push(await measure(mailqBin, [], empty.env));
empty.cleanup();
const base = { ms: median(baseline.map((r) => r.ms)), rssKB: median(baseline.map((r) => r.rssKB)) };
console.log(`baseline: mailq on an empty spool ${base.ms.toFixed(0)} ms, ${mb(base.rssKB)} MB`);
console.log('');
console.log('messages | generate | mailq time | mailq RSS | runner: first delivery | delivered | rate msg/s | connections | runner RSS');

const rows: {
  n: number;
  genMs: number;
  mq: { ms: number; rssKB: number };
  firstMs: number;
  delivered: number;
  rate: number;
  connections: number;
  runnerKB: number;
}[] = [];
for (const n of sizes) {
  const s = await relayEnv();
  try {
    let t0 = Date.now();
    generateQueue(s.t.spool, { count: n });
    const genMs = Date.now() - t0;
    const runs: Measured[] = [];
    for (let i = 0; i < 3; i++) runs.push(await measure(mailqBin, [], s.env));
    const mq = { ms: median(runs.map((r) => r.ms)), rssKB: Math.max(...runs.map((r) => r.rssKB)) };

    // The runner: count deliveries at the relay, stop after the cap (SIGTERM: a clean stop).
    const target = Math.min(n, deliverCap);
    t0 = Date.now();
    let firstMs = NaN;
    void s.relay.waitFor(1, 3_600_000).then(
      () => (firstMs = Date.now() - t0),
      () => {},
    );
    const child = spawn(sendmailBin, ['-q'], { env: cleanEnv(s.env), stdio: ['ignore', 'ignore', 'inherit'] });
    const peak = watchPeakRss(child);
    const exited = new Promise((r) => child.on('close', r));
    const reached = s.relay.waitFor(target, 3_600_000).then(
      () => Date.now() - t0,
      () => NaN,
    );
    const doneMs = await Promise.race([reached, exited.then(() => Date.now() - t0)]);
    if (s.relay.received.length < n) child.kill('SIGTERM');
    await exited;
    const delivered = s.relay.received.length;
    const rate = delivered / ((doneMs - firstMs) / 1000);
    const row = { n, genMs, mq, firstMs, delivered, rate, connections: s.relay.connections, runnerKB: peak() };
    rows.push(row);
    console.log(
      `${String(n).padStart(8)} | ${(genMs / 1000).toFixed(1).padStart(6)} s | ${mq.ms.toFixed(0).padStart(7)} ms | ${mb(mq.rssKB).padStart(6)} MB | ${firstMs.toFixed(0).padStart(19)} ms | ${String(delivered).padStart(9)} | ${rate.toFixed(0).padStart(10)} | ${String(row.connections).padStart(11)} | ${mb(row.runnerKB).padStart(7)} MB`,
    );
  } finally {
    await s.close();
  }
}

console.log('');
// Per 1,000 messages, net of the empty-spool start-up: flat = linear growth.
const per1k = (ms: number, n: number): string => (Math.max(0, ms - base.ms) / (n / 1000)).toFixed(1);
for (const r of rows) {
  console.log(
    `${r.n} messages: mailq ${per1k(r.mq.ms, r.n)} ms per 1,000 messages, mailq RSS ${mb(r.mq.rssKB - base.rssKB)} MB over the empty baseline, ` +
      `runner first delivery after ${(r.firstMs / 1000).toFixed(2)} s, runner RSS ${mb(r.runnerKB)} MB`,
  );
}
const big = rows.find((r) => r.n >= 100_000);
if (big) console.log(`mailq at ${big.n}: ${big.mq.ms.toFixed(0)} ms (target < 2000 ms): ${big.mq.ms < 2000 ? 'OK' : 'OVER'}`);
