/**
 * test/helpers/run.ts — run the built single executable as a subprocess, with a clean
 * environment (no inherited NODE_OPTIONS / NODE_EXTRA_CA_CERTS), real stdin and real exit codes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN_DIR = process.env.OUTBOX_BIN_DIR ?? path.join(REPO, 'build');
export const SENDMAIL = path.join(BIN_DIR, 'sendmail');
export const MAILQ = path.join(BIN_DIR, 'mailq');
export const NEWALIASES = path.join(BIN_DIR, 'newaliases');
export const OUTBOX = path.join(BIN_DIR, 'outbox');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  input?: string | Buffer;
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
  argv0?: string;
}

/** A minimal environment: PATH, HOME, LANG, TZ plus what the test adds. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    LANG: 'C.UTF-8',
    TZ: 'UTC',
  };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export function start(cmd: string, args: string[], opts: RunOptions = {}): ChildProcess {
  return spawn(cmd, args, { env: cleanEnv(opts.env), cwd: opts.cwd, argv0: opts.argv0, stdio: ['pipe', 'pipe', 'pipe'] });
}

/**
 * Time limits keep 5x headroom over what a step takes under the full suite's load. With
 * OUTBOX_TEST_HEADROOM_LOG=FILE, each run() that used more than a fifth of its limit appends a
 * line there (`npm test` prints them at the end), so a limit that got too tight shows up.
 */
export function noteHeadroom(what: string, ms: number, limitMs: number): void {
  const log = process.env.OUTBOX_TEST_HEADROOM_LOG;
  if (log && ms * 5 > limitMs)
    fs.appendFileSync(log, `${process.argv[1] ? path.basename(process.argv[1]) : '?'}: ${what}: ${ms} ms of a ${limitMs} ms limit\n`);
}

/** Run to completion (bounded by timeoutMs, default 20 s: then SIGKILL and reject). */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const t0 = Date.now();
  const limit = opts.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    const child = start(cmd, args, opts);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(cmd)} ${args.join(' ')}: timed out; stderr: ${stderr}`));
    }, limit);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      noteHeadroom(`${path.basename(cmd)} ${args.join(' ').slice(0, 60)}`, Date.now() - t0, limit);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
    child.stdin!.on('error', () => {}); // EPIPE when the program exits before reading it all
    child.stdin!.end(opts.input ?? '');
  });
}

/** A fresh temporary spool (and config dir) for one test; removed by cleanup(). */
export interface TempSpool {
  dir: string;
  spool: string;
  env: Record<string, string>;
  cleanup(): void;
}

export function tempSpool(prefix = 'outbox-test-'): TempSpool {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const spool = path.join(dir, 'spool');
  return {
    dir,
    spool,
    env: { OUTBOX_SPOOL: spool },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** Committed control records of a spool, parsed. */
export function controls(spool: string): Record<string, any>[] {
  const dir = path.join(spool, 'ctl');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .sort()
    .map((n) => JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8')));
}

/** The stored message bytes of a queued message. */
export function messageText(spool: string, id: string): string {
  return fs.readFileSync(path.join(spool, 'msg', id), 'latin1');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * `spool()` for a test file: each call makes a fresh temporary spool, and all of them are
 * removed after the file's tests. Call at module level: `const spool = spoolsForFile(after);`.
 */
export function spoolsForFile(after: (fn: () => void) => void, prefix?: string): () => TempSpool {
  const made: TempSpool[] = [];
  after(() => made.forEach((s) => s.cleanup()));
  return () => {
    const s = tempSpool(prefix);
    made.push(s);
    return s;
  };
}
