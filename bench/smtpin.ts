// bench/smtpin.ts — SMTP-in figures, each against a baseline measured in the same run.
// Needs a build (npm run build). Prints:
//  1. `sendmail -bs`: N messages over ONE -bs session vs N `sendmail -t -i` processes (same
//     message): ms per message for each and the ratio (the session saves a process start per
//     message);
//  2. `outbox serve`: C concurrent clients x M messages each (pipelined MAIL/RCPT/DATA over one
//     connection per client): total time, messages/s, and whether every message was committed
//     exactly once; the server's peak RSS (VmHWM) against a bare `node -e` process;
//  3. hostile clients: C connections each sending 4 MB without a line break, C connections that
//     stop in the middle of DATA, and C connections sending a 4 MB header section: the server's
//     peak RSS afterwards (must stay bounded) and that nothing extra was committed.
// Usage: node dist/bench/smtpin.js [N=200] [C=200] [M=50]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO } from '../test/helpers/run.js';
import { startServe } from '../test/helpers/serve.js';
import { runLoad } from '../test/helpers/smtp-load.js';

const sendmail = path.join(REPO, 'build', 'sendmail');
const N = Number(process.argv[2] ?? 200);
const C = Number(process.argv[3] ?? 200);
const M = Number(process.argv[4] ?? 50);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-bench-smtpin-'));
const env = (name: string): Record<string, string> => ({ PATH: '/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8', OUTBOX_SPOOL: path.join(dir, name) });
const body = 'Subject: bench\r\nFrom: app@example.com\r\nTo: someone@example.com\r\n\r\n' + 'The quick brown fox jumps over the lazy dog.\r\n'.repeat(60);

function runProc(args: string[], input: string, e: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(sendmail, args, { env: e, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`sendmail ${args.join(' ')} exited ${code}`))));
    child.stdin.end(input);
  });
}

// 1. -bs session vs separate processes.
{
  const e1 = env('bs');
  let script = 'EHLO bench\r\n';
  for (let i = 0; i < N; i++) script += `MAIL FROM:<app@example.com>\r\nRCPT TO:<someone@example.com>\r\nDATA\r\n${body}.\r\n`;
  script += 'QUIT\r\n';
  const t0 = performance.now();
  const out = await runProc(['-bs'], script, e1);
  const bsMs = performance.now() - t0;
  const queued = (out.match(/queued as/g) ?? []).length;
  const e2 = env('cli');
  const t1 = performance.now();
  for (let i = 0; i < N; i++) await runProc(['-t', '-i'], body, e2);
  const cliMs = performance.now() - t1;
  console.log(
    `-bs: ${N} messages in one session ${(bsMs / N).toFixed(2)} ms/message (${queued} queued); ${N} x sendmail -t -i ${(cliMs / N).toFixed(2)} ms/message; ratio ${(bsMs / cliMs).toFixed(3)}`,
  );
}

function vmHWM(pid: number | undefined): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function nodeBaselineMB(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 300)'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 200));
  const mb = vmHWM(child.pid);
  await new Promise((r) => child.on('close', r));
  return mb;
}

// 2. listener throughput.
{
  const e = env('serve');
  const srv = await startServe(['--listen', '127.0.0.1:0', '--max-clients', String(C + 10)], e);
  const base = await nodeBaselineMB();
  const port = srv.ports[0]!;
  const res = await runLoad(port, C, M);
  const ctl = fs.readdirSync(path.join(e.OUTBOX_SPOOL!, 'ctl')).length;
  const once = res.errors.length === 0 && res.accepted.size === C * M && ctl === C * M && new Set(res.accepted.values()).size === C * M;
  const rss = vmHWM(srv.child.pid);
  console.log(
    `serve: ${C} clients x ${M} messages = ${C * M} in ${res.ms} ms, ${((C * M) / (res.ms / 1000)).toFixed(0)} messages/s; committed exactly once: ${once ? 'yes' : `NO (${res.errors.slice(0, 3).join('; ')})`}`,
  );
  console.log(`serve: peak RSS ${rss.toFixed(1)} MB (node -e baseline ${base.toFixed(1)} MB, ratio ${(rss / base).toFixed(2)})`);

  // 3. hostile clients.
  const junk = Buffer.alloc(64 * 1024, 0x41);
  const floods = Array.from(
    { length: C },
    () =>
      new Promise<void>((resolve) => {
        const s = net.connect({ port, host: '127.0.0.1' }, async () => {
          for (let i = 0; i < 64 && !s.destroyed; i++) {
            if (!s.write(junk)) await new Promise((r) => s.once('drain', r).once('close', r));
          }
          s.destroy();
          resolve();
        });
        s.on('error', () => resolve());
      }),
  );
  const cuts = Array.from(
    { length: C },
    () =>
      new Promise<void>((resolve) => {
        const s = net.connect({ port, host: '127.0.0.1' }, () => {
          s.write(`EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n`);
          setTimeout(() => {
            s.write('Subject: cut\r\n\r\n' + 'y'.repeat(200_000));
            setTimeout(() => {
              s.destroy();
              resolve();
            }, 300);
          }, 200);
        });
        s.on('error', () => resolve());
      }),
  );
  const line = Buffer.from('X-Junk: ' + 'a'.repeat(990) + '\r\n');
  const hchunk = Buffer.concat(Array(64).fill(line));
  const headerFloods = Array.from(
    { length: C },
    () =>
      new Promise<void>((resolve) => {
        const s = net.connect({ port, host: '127.0.0.1' }, async () => {
          s.write('EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n');
          await new Promise((r) => setTimeout(r, 200));
          for (let i = 0; i < 64 && !s.destroyed; i++) {
            if (!s.write(hchunk)) await new Promise((r) => s.once('drain', r).once('close', r));
          }
          s.end('\r\nbody\r\n.\r\nQUIT\r\n');
        });
        s.on('data', () => {});
        s.on('error', () => resolve());
        s.on('close', () => resolve());
      }),
  );
  await Promise.all([...floods, ...cuts, ...headerFloods]);
  await new Promise((r) => setTimeout(r, 500));
  const after = vmHWM(srv.child.pid);
  const ctl2 = fs.readdirSync(path.join(e.OUTBOX_SPOOL!, 'ctl')).length;
  console.log(
    `hostile: ${C} x 4 MB without a line break + ${C} cut mid-DATA + ${C} x 4 MB header section: peak RSS ${after.toFixed(1)} MB; nothing extra committed: ${ctl2 === C * M ? 'yes' : 'NO'}; still running: ${srv.child.exitCode === null ? 'yes' : 'NO'}`,
  );
  await srv.stop();
}
fs.rmSync(dir, { recursive: true, force: true });
