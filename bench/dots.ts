// bench/dots.ts — what dot handling (sendmail WITHOUT -i) costs, against the same submission
// with -i, measured in one run on the same file.
//
// Input: 50 MB of dot-heavy text ("..\n.\n...x\n" repeated: every line starts with a dot, one in
// three is dot-stuffed), as logwatch- or Symfony-style callers send it without -i.
// Prints, for `sendmail -odq rcpt@example.com` with and without -i (runs interleaved so machine
// noise hits both alike; a fresh spool each run):
//  1. the median wall time, and the ratio (target <= 1.5);
//  2. the peak RSS (ru_maxrss from /usr/bin/time) of each, and the ratio (target: the same
//     memory, ratio <= 1.15: the strings of the 8 KB pieces grow V8's young generation a little);
//  3. that the stored message is exactly what the documented rule gives (docs/command-line.md) (one dot removed from each
//     ".." line): the benchmark fails rather than measure a wrong result.
// Needs `npm run build` first (runs build/sendmail). Clean environment (no NODE_OPTIONS).
// Usage: node dist/bench/dots.js [runs=7] [megabytes=50]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SENDMAIL as sendmail } from '../test/helpers/run.js';

const runs = Number(process.argv[2] ?? 7);
const megabytes = Number(process.argv[3] ?? 50);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-bench-dots-'));
const spool = path.join(dir, 'spool');
const env = { PATH: '/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8', OUTBOX_SPOOL: spool };

const pattern = '..\n.\n...x\n';
const input = path.join(dir, 'dots.txt');
let blocks = 0;
{
  const block = Buffer.from(pattern.repeat(10_000));
  const fd = fs.openSync(input, 'w');
  for (let written = 0; written < megabytes * 1024 * 1024; written += block.length, blocks++) fs.writeSync(fd, block);
  fs.closeSync(fd);
}
const inputBytes = fs.statSync(input).size;

/** One submission: wall ms and peak RSS in MB (GNU time's %M), stdin from the file. */
function runOnce(args: string[]): Promise<{ ms: number; mb: number }> {
  fs.rmSync(spool, { recursive: true, force: true });
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '%M', sendmail, ...args], { env, stdio: [fs.openSync(input, 'r'), 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) return reject(new Error(`sendmail ${args.join(' ')} exited ${code}: ${err}`));
      const kb = Number(err.trim().split('\n').pop());
      if (!Number.isFinite(kb)) return reject(new Error(`no RSS figure: ${err}`));
      resolve({ ms, mb: kb / 1024 });
    });
  });
}

/** The size of the one stored message body (after the header section we add). */
function storedBodyBytes(): number {
  const msgDir = path.join(spool, 'msg');
  const [name] = fs.readdirSync(msgDir);
  if (name === undefined) throw new Error(`no message in ${msgDir}`);
  const data = fs.readFileSync(path.join(msgDir, name));
  return data.length - (data.indexOf('\n\n') + 2);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const withI = ['-odq', '-i', 'rcpt@example.com'];
const withoutI = ['-odq', 'rcpt@example.com'];
// Check the result once each (and warm the page cache).
await runOnce(withI);
const bodyI = storedBodyBytes();
await runOnce(withoutI);
const bodyDots = storedBodyBytes();
// No headers in the input: the body is all of it; without -i each "..\n" and "...x\n" loses a dot.
const expectDots = inputBytes - blocks * 10_000 * 2;
if (bodyI !== inputBytes || bodyDots !== expectDots) {
  throw new Error(`wrong stored size: -i ${bodyI} (want ${inputBytes}), without -i ${bodyDots} (want ${expectDots})`);
}

const a = { ms: [] as number[], mb: [] as number[] };
const b = { ms: [] as number[], mb: [] as number[] };
for (let i = 0; i < runs; i++) {
  for (const [args, acc] of [
    [withI, a],
    [withoutI, b],
  ] as const) {
    const r = await runOnce(args);
    acc.ms.push(r.ms);
    acc.mb.push(r.mb);
  }
}
const mb = (inputBytes / 1048576).toFixed(1);
const ta = median(a.ms);
const tb = median(b.ms);
const ra = Math.max(...a.mb);
const rb = Math.max(...b.mb);
console.log(`input: ${mb} MB of "${JSON.stringify(pattern).slice(1, -1)}" lines; ${runs} runs each, interleaved`);
console.log(`sendmail -odq -i (baseline), median: ${ta.toFixed(0)} ms, peak RSS ${ra.toFixed(1)} MB`);
console.log(`sendmail -odq (dot handling), median: ${tb.toFixed(0)} ms, peak RSS ${rb.toFixed(1)} MB`);
console.log(`time ratio: ${(tb / ta).toFixed(2)} (target <= 1.5); RSS ratio: ${(rb / ra).toFixed(2)} (target <= 1.15)`);
fs.rmSync(dir, { recursive: true, force: true });
