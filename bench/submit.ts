// bench/submit.ts — what a `sendmail` call costs, measured against Node itself in one run.
//
// Prints:
//  1. the median wall time of `sendmail -t -i -odq` with a 3 KB message against `node -e 0` on the
//     SAME node binary (the one the single executable is built from), interleaved so machine
//     noise hits both alike, twice: sequentially with a pause of PAUSE_MS between calls (a cron
//     job, a web form), and back to back (a burst). Target ratio <= 1.2 (issue 13);
//  2. the same submit with NODE_EXTRA_CA_CERTS set, against the plain submit: a plain submission
//     no longer re-executes itself for it (src/runtime-restart.ts, main.ts), so about +0 ms;
//  3. peak RSS (ru_maxrss from /usr/bin/time) of submitting a 50 MB message, against a node
//     process that merely reads 50 MB of stdin; target under 80 MB.
// All run with a clean environment (no NODE_OPTIONS). OUTBOX_BENCH_SENDMAIL names another
// executable to measure (a variant build) instead of build/sendmail.
// Needs a build (npm run build). Usage: node dist/bench/submit.js [runs=40]
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO } from '../test/helpers/run.js';
import { f1, median, message, pinnedNode } from './stats.js';

const sendmail = process.env.OUTBOX_BENCH_SENDMAIL || path.join(REPO, 'build', 'sendmail');
const runs = Number(process.argv[2] ?? 40);
const PAUSE_MS = 300;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-bench-'));
const env: NodeJS.ProcessEnv = { PATH: '/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8', OUTBOX_SPOOL: path.join(dir, 'spool') };
const caFile = path.join(dir, 'extra-ca.pem');
const input = message('benchmark');
const sleep = (msecs: number) => new Promise((r) => setTimeout(r, msecs));

function timeOnce(cmd: string, args: string[], data?: Buffer, extraEnv: NodeJS.ProcessEnv = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: { ...env, ...extraEnv }, stdio: ['pipe', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${cmd} exited ${code}`));
      else resolve(Number(process.hrtime.bigint() - t0) / 1e6);
    });
    child.stdin.on('error', () => {}); // `node -e 0` may exit before reading it (EPIPE)
    child.stdin.end(data ?? '');
  });
}

const base = () => timeOnce(pinnedNode, ['-e', '0']);
const ours = (extraEnv: NodeJS.ProcessEnv = {}) => timeOnce(sendmail, ['-t', '-i', '-odq'], input, extraEnv);

/** runs rounds of [each of fns], interleaved; pauseMs between calls (0: back to back). */
async function interleaved(fns: (() => Promise<number>)[], pauseMs: number): Promise<number[][]> {
  const out: number[][] = fns.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < fns.length; k++) {
      out[k]!.push(await fns[k]!());
      if (pauseMs) await sleep(pauseMs);
    }
  }
  return out;
}

// A CA file for NODE_EXTRA_CA_CERTS (any PEM certificate will do: the system bundle's first one).
const bundle = fs.readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8');
fs.writeFileSync(caFile, bundle.slice(0, bundle.indexOf('-----END CERTIFICATE-----') + 26));

// Warm the page cache for both binaries.
for (let i = 0; i < 3; i++) {
  await base();
  await ours();
}
const nodeVersion = spawnSync(pinnedNode, ['--version'], { encoding: 'utf8' }).stdout.trim();
console.log(
  `bench/submit: ${new Date().toISOString()}, ${os.cpus().length} CPUs, load ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
for (const [label, pause] of [
  [`sequential, ${PAUSE_MS} ms apart`, PAUSE_MS],
  ['back to back', 0],
] as const) {
  const [b, o] = await interleaved([base, () => ours()], pause);
  const mb = median(b!);
  const mo = median(o!);
  console.log(
    `${label}, median of ${runs}: sendmail -t -i -odq (3 KB) ${f1(mo)} ms, node -e 0 (${nodeVersion}) ${f1(mb)} ms, ratio ${(mo / mb).toFixed(2)} (target <= 1.2)`,
  );
}
{
  const [plain, extra] = await interleaved([() => ours(), () => ours({ NODE_EXTRA_CA_CERTS: caFile })], 0);
  const mp = median(plain!);
  const me = median(extra!);
  console.log(`with NODE_EXTRA_CA_CERTS set (no re-exec for a submission), median of ${runs}: ${f1(me)} ms against ${f1(mp)} ms without: +${f1(me - mp)} ms`);
}

// Peak RSS for 50 MB through stdin.
const big = path.join(dir, 'big.eml');
{
  const fd = fs.openSync(big, 'w');
  fs.writeSync(fd, 'To: someone@example.com\nSubject: 50 MB\n\n');
  const line = Buffer.from('0123456789'.repeat(7) + '\n');
  const block = Buffer.concat(Array.from({ length: 1024 }, () => line));
  for (let written = 0; written < 50 * 1024 * 1024; written += block.length) fs.writeSync(fd, block);
  fs.closeSync(fd);
}
function peakRss(cmd: string, args: string[]): number {
  const r = spawnSync('/bin/sh', ['-c', `/usr/bin/time -f %M "$@" < "${big}" 2>&1 >/dev/null | tail -1`, 'sh', cmd, ...args], { env, encoding: 'utf8' });
  const kb = Number(r.stdout.trim().split('\n').pop());
  if (!Number.isFinite(kb)) throw new Error(`no RSS figure: ${r.stdout} ${r.stderr}`);
  return kb / 1024;
}
const rssOurs = peakRss(sendmail, ['-t', '-i']);
const rssBase = peakRss(pinnedNode, ['-e', 'process.stdin.on("data",()=>{}).on("end",()=>{})']);
console.log(`peak RSS submitting 50 MB: ${f1(rssOurs)} MB (target < 80 MB)`);
console.log(`peak RSS of node merely reading 50 MB of stdin: ${f1(rssBase)} MB (ratio ${(rssOurs / rssBase).toFixed(2)})`);
fs.rmSync(dir, { recursive: true, force: true });
