/**
 * test/helpers/torture.ts — shared pieces of the crash, fault and scale suites
 * (test/e2e/torture*.test.ts, scripts/test/torture, bench/queue.ts):
 *
 *  - relayEnv(): a spool plus the OUTBOX_RELAY* environment for a test relay (./relay.ts);
 *  - hooks(): watch the relay's SMTP events (connect, MAIL, DATA bytes, after the 250 reply)
 *    by wrapping smtp-server's per-instance handlers, so a test can kill -9 the runner at an
 *    exact point of the dialogue without changing relay.ts;
 *  - runnerCrashTorture(), relayFaultTorture(), concurrencyTorture(): the suites themselves,
 *    returning figures (short runs in test/e2e/torture-*.test.ts, long ones in scripts/test/torture):
 *    every delivery is matched by Message-ID and bytes to a committed message;
 *  - peak RSS of a child (VmHWM from /proc) and a bounded pool.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { startRelay, type RelayOptions, type TestRelay } from './relay.js';
import { tempSpool, type TempSpool } from './run.js';

export interface RelaySetup {
  relay: TestRelay;
  t: TempSpool;
  env: Record<string, string>;
  close(): Promise<void>;
}

/** A temporary spool and a relay, with the environment that makes Outbox deliver to it. */
export async function relayEnv(opts: RelayOptions = {}, extra: Record<string, string> = {}): Promise<RelaySetup> {
  const relay = await startRelay(opts);
  const t = tempSpool('outbox-torture-');
  return {
    relay,
    t,
    env: envFor(relay, t, extra),
    close: async () => {
      await relay.close();
      t.cleanup();
    },
  };
}

export function envFor(relay: { url(): string; caFile: string }, t: TempSpool, extra: Record<string, string> = {}): Record<string, string> {
  const pw = path.join(t.dir, 'password');
  if (!fs.existsSync(pw)) fs.writeFileSync(pw, 'secret\n', { mode: 0o600 });
  return { ...t.env, OUTBOX_RELAY: relay.url(), OUTBOX_RELAY_PASSWORD_FILE: pw, OUTBOX_RELAY_CA: relay.caFile, OUTBOX_LOG: 'none', ...extra };
}

export type RelayEvent = 'connect' | 'mail' | 'data' | 'accepted';

type Handler = (...args: any[]) => void;
interface HookableServer {
  onConnect: Handler;
  onMailFrom: Handler;
  onData: Handler;
}

/**
 * Call `listener(event)` at points of each SMTP transaction the relay sees:
 *   connect   a client connected (before the greeting);
 *   mail      MAIL FROM arrived (before the reply);
 *   data      the first bytes of the message content arrived;
 *   accepted  the relay has just written its 250 to the end of DATA (the message counts as
 *             received) and the client has not yet recorded it.
 * Returns a function that removes the hooks.
 */
export function hooks(relay: TestRelay, listener: (event: RelayEvent) => void): () => void {
  const server = relay.server as unknown as HookableServer;
  const orig = { onConnect: server.onConnect, onMailFrom: server.onMailFrom, onData: server.onData };
  server.onConnect = function (session: SMTPServerSession, cb: Handler) {
    listener('connect');
    return orig.onConnect.call(this, session, cb);
  };
  server.onMailFrom = function (address: unknown, session: SMTPServerSession, cb: Handler) {
    listener('mail');
    return orig.onMailFrom.call(this, address, session, cb);
  };
  server.onData = function (stream: SMTPServerDataStream, session: SMTPServerSession, cb: Handler) {
    stream.once('data', () => listener('data'));
    return orig.onData.call(this, stream, session, (err: unknown, message?: string) => {
      cb(err, message);
      if (!err) listener('accepted');
    });
  };
  return () => Object.assign(server, orig);
}

/** The Message-ID of a message as stored or received (our generator and sendmail both set one). */
export function messageId(data: Buffer | string): string | null {
  const text = typeof data === 'string' ? data : data.subarray(0, 64 * 1024).toString('latin1');
  const m = /^Message-ID:\s*(<[^>\r\n]+>)/im.exec(text);
  return m ? m[1]! : null;
}

export function queuedIds(spool: string): Set<string> {
  const ctl = path.join(spool, 'ctl');
  return new Set(fs.existsSync(ctl) ? fs.readdirSync(ctl) : []);
}

/** Peak resident set size of a running child in KB (VmHWM), polled until it exits. */
export function watchPeakRss(child: ChildProcess, everyMs = 50): () => number {
  let peak = 0;
  const poll = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]));
    } catch {
      // exited
    }
  };
  const timer = setInterval(poll, everyMs);
  child.once('exit', () => clearInterval(timer));
  poll();
  return () => {
    poll();
    return peak;
  };
}

/** Run fn(0..n-1) with at most `width` at a time. */
export async function pool(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** A seeded PRNG (mulberry32), so a failing torture run can be repeated with its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- the runner crash torture ---------------------------------------------------------------

export type KillPoint = 'before-connect' | 'connect' | 'mail' | 'data' | 'accepted';
export const KILL_POINTS: readonly KillPoint[] = ['before-connect', 'connect', 'mail', 'data', 'accepted'];

export interface CrashOptions {
  /** Runner kills (each a `sendmail -q` killed with SIGKILL at a random point). */
  iterations: number;
  /** Messages submitted before each kill (real `sendmail` runs). */
  perIteration: number;
  /** Of those, how many submitters are themselves killed at a random moment. */
  submitterKills: number;
  seed: number;
  sendmail: string;
  log?: (line: string) => void;
}

export interface CrashReport {
  seed: number;
  iterations: number;
  /** Committed messages (submissions that reached ctl/). */
  committed: number;
  submittersKilled: number;
  kills: Record<KillPoint, number>;
  delivered: number;
  lost: number;
  /** Extra copies whose earlier copy was accepted by a runner that was then killed. */
  duplicates: number;
  /** The same, by the point at which that runner was killed. */
  duplicatesByKill: Record<KillPoint, number>;
  /** Extra copies NOT explained by a kill (must be 0). */
  unexplainedDuplicates: number;
  /** Received messages that were never committed, or whose bytes differ from the stored ones. */
  halfWritten: number;
  runnerRuns: number;
  ms: number;
  details: string[];
}

function wait(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Submit messages (some submitters killed), run the queue runner and kill -9 it at random points
 * of the SMTP dialogue, again and again; then drain the queue and account for every message.
 */
export async function runnerCrashTorture(o: CrashOptions): Promise<CrashReport> {
  const { spawn } = await import('node:child_process');
  const { cleanEnv } = await import('./run.js');
  const t0 = Date.now();
  const random = rng(o.seed);
  const setup = await relayEnv();
  const { relay, t } = setup;
  const conf = path.join(t.dir, 'outbox.conf');
  // Stale locks of a killed runner are taken over after 2 s (the minimum), not 30.
  fs.writeFileSync(conf, 'lock_stale_ms = 2000\n');
  const env = { ...setup.env, OUTBOX_CONFIG: conf };
  const report: CrashReport = {
    seed: o.seed,
    iterations: 0,
    committed: 0,
    submittersKilled: 0,
    kills: { 'before-connect': 0, connect: 0, mail: 0, data: 0, accepted: 0 },
    delivered: 0,
    lost: 0,
    duplicates: 0,
    duplicatesByKill: { 'before-connect': 0, connect: 0, mail: 0, data: 0, accepted: 0 },
    unexplainedDuplicates: 0,
    halfWritten: 0,
    runnerRuns: 0,
    ms: 0,
    details: [],
  };
  /** Message-ID -> the bytes the relay must receive (stored form with CRLF). */
  const wire = new Map<string, { qid: string; data: Buffer }>();
  /** received[] index where each runner generation started, and whether it was killed. */
  const generations: { start: number; killed: boolean; point: KillPoint | null }[] = [];
  let current: { child: import('node:child_process').ChildProcess; point: KillPoint | null; left: number } | null = null;
  const unhook = hooks(relay, (event) => {
    if (!current || current.point !== event) return;
    if (--current.left === 0) current.child.kill('SIGKILL');
  });
  let serial = 0;

  const submitOne = (kill: boolean) =>
    new Promise<void>((resolve) => {
      const n = serial++;
      const big = random() < 0.3;
      const body = big ? `${'line of a big message '.repeat(3)}\n`.repeat(3000 + Math.floor(random() * 3000)) : `body ${n}\n.\n..dot\n`;
      const input = Buffer.from(`Subject: torture ${o.seed}/${n}\nTo: rcpt${n}@example.com\n\n${body}`);
      const child = spawn(o.sendmail, ['-odq', '-t', '-i'], { env: cleanEnv(env), stdio: ['pipe', 'ignore', 'ignore'] });
      child.stdin!.on('error', () => {});
      child.on('close', () => resolve());
      if (kill) {
        const cut = Math.floor(random() * input.length);
        child.stdin!.write(input.subarray(0, cut));
        if (random() < 0.5) child.stdin!.end(input.subarray(cut));
        setTimeout(() => child.kill('SIGKILL'), Math.floor(random() * 60));
        report.submittersKilled++;
      } else child.stdin!.end(input);
    });

  const snapshot = () => {
    for (const id of fs.readdirSync(path.join(t.spool, 'ctl'))) {
      const data = fs.readFileSync(path.join(t.spool, 'msg', id));
      const mid = messageId(data);
      if (mid && !wire.has(mid)) wire.set(mid, { qid: id, data: Buffer.from(data.toString('latin1').replace(/\n/g, '\r\n'), 'latin1') });
    }
  };

  const runner = async (point: KillPoint | null) => {
    const child = spawn(o.sendmail, ['-q'], { env: cleanEnv(env), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const gen = { start: relay.received.length, killed: false, point };
    generations.push(gen);
    report.runnerRuns++;
    current = { child, point: point === 'before-connect' ? null : point, left: 1 + Math.floor(random() * 4) };
    if (point === 'before-connect') setTimeout(() => child.kill('SIGKILL'), Math.floor(random() * 80));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on('close', (c, s) => r([c, s])));
    clearTimeout(timer);
    current = null;
    gen.killed = signal === 'SIGKILL';
    if (gen.killed && point) report.kills[point]++;
    if (!gen.killed && code !== 0) report.details.push(`runner exited ${code}: ${stderr.trim().split('\n').pop()}`);
  };

  try {
    for (let i = 0; i < o.iterations; i++) {
      const kills = new Set<number>();
      while (kills.size < Math.min(o.submitterKills, o.perIteration)) kills.add(Math.floor(random() * o.perIteration));
      await pool(o.perIteration, 4, (k) => submitOne(kills.has(k)));
      snapshot();
      await runner(KILL_POINTS[i % KILL_POINTS.length]!);
      report.iterations++;
      o.log?.(`iteration ${i + 1}/${o.iterations}: ${wire.size} committed, ${relay.received.length} received`);
    }
    // Drain: the killed runners' locks go stale after 2 s; then runs without kills until empty.
    for (let k = 0; k < 8 && queuedIds(t.spool).size > 0; k++) {
      await wait(2200);
      await runner(null);
    }
    // Account for every message.
    const seen = new Map<string, number[]>(); // mid -> generations of its receipts
    relay.received.forEach((m, idx) => {
      const mid = messageId(m.data);
      const w = mid ? wire.get(mid) : undefined;
      if (!w || !m.data.equals(w.data)) {
        report.halfWritten++;
        report.details.push(`received ${mid ?? '(no Message-ID)'}: ${w ? 'bytes differ from the stored message' : 'never committed'}`);
        return;
      }
      let g = generations.length - 1;
      while (g > 0 && generations[g]!.start > idx) g--;
      seen.set(mid!, [...(seen.get(mid!) ?? []), g]);
    });
    const queued = queuedIds(t.spool);
    for (const [mid, w] of wire) {
      const gens = seen.get(mid) ?? [];
      if (gens.length === 0) {
        report.lost++;
        report.details.push(`lost ${w.qid} ${mid}${queued.has(w.qid) ? ' (still queued)' : ''}`);
        continue;
      }
      report.delivered++;
      for (let k = 1; k < gens.length; k++) {
        // A second copy is explained only when the run that delivered the previous copy was
        // killed (between the relay's 250 and the spool update), and this copy came later.
        const prev = generations[gens[k - 1]!]!;
        if (gens[k]! > gens[k - 1]! && prev.killed) {
          report.duplicates++;
          if (prev.point) report.duplicatesByKill[prev.point]++;
        } else {
          report.unexplainedDuplicates++;
          report.details.push(`duplicate ${w.qid} ${mid} in runs ${gens.join(',')}`);
        }
      }
    }
    report.committed = wire.size;
  } finally {
    unhook();
    await setup.close();
  }
  report.ms = Date.now() - t0;
  return report;
}

// ---- relay faults under load -----------------------------------------------------------------

export interface FaultOptions {
  messages: number;
  seed: number;
  sendmail: string;
  /** How long the chaos lasts (ms); the flush then finishes against a healthy relay. */
  chaosMs: number;
  log?: (line: string) => void;
}

export interface FaultReport {
  seed: number;
  messages: number;
  delivered: number;
  lost: number;
  /** Extra copies whose earlier copy travelled on a connection we cut (kill window). */
  duplicates: number;
  unexplainedDuplicates: number;
  halfWritten: number;
  restarts: number;
  slowRestarts: number;
  drops: number;
  midDataDrops: number;
  greetingRefusals: number;
  connections: number;
  runnerRuns: number;
  ms: number;
  details: string[];
}

/**
 * Flush a queue of `messages` with `sendmail -q` (repeated until empty) while the relay is
 * restarted (sometimes as a slow one that waits before each 250), connections are cut at random,
 * DATA is dropped half-way and greetings are refused. Then account for every message.
 */
export async function relayFaultTorture(o: FaultOptions): Promise<FaultReport> {
  const { spawn } = await import('node:child_process');
  const { cleanEnv } = await import('./run.js');
  const { generateQueue } = await import('./queue-gen.js');
  const t0 = Date.now();
  const random = rng(o.seed);
  const t = tempSpool('outbox-faults-');
  let relay = await startRelay({});
  const port = relay.port;
  // The relay as a configured relay, not OUTBOX_RELAY, for short timeouts: a connection that a
  // restart or a drop leaves open but silent (a black hole, as a real relay can be) then costs
  // seconds instead of the default 2 minutes.
  const pw = path.join(t.dir, 'password');
  fs.writeFileSync(pw, 'secret\n', { mode: 0o600 });
  const conf = path.join(t.dir, 'outbox.conf');
  fs.writeFileSync(
    conf,
    [
      'default_relay = "test"',
      '[relay.test]',
      `url = ${JSON.stringify(relay.url())}`,
      `password_file = ${JSON.stringify(pw)}`,
      `ca_file = ${JSON.stringify(relay.caFile)}`,
      'connect_timeout = "5s"',
      'greeting_timeout = "5s"',
      'command_timeout = "10s"',
      'data_timeout = "10s"',
      '',
    ].join('\n'),
  );
  const env = { ...t.env, OUTBOX_CONFIG: conf, OUTBOX_LOG: 'none' };
  const report: FaultReport = {
    seed: o.seed,
    messages: o.messages,
    delivered: 0,
    lost: 0,
    duplicates: 0,
    unexplainedDuplicates: 0,
    halfWritten: 0,
    restarts: 0,
    slowRestarts: 0,
    drops: 0,
    midDataDrops: 0,
    greetingRefusals: 0,
    connections: 0,
    runnerRuns: 0,
    ms: 0,
    details: [],
  };
  const ids = generateQueue(t.spool, { count: o.messages, subject: `faults ${o.seed}` });
  const wire = new Map<string, { qid: string; data: Buffer }>();
  for (const id of ids) {
    const data = fs.readFileSync(path.join(t.spool, 'msg', id));
    wire.set(messageId(data)!, { qid: id, data: Buffer.from(data.toString('latin1').replace(/\n/g, '\r\n'), 'latin1') });
  }
  const relays: TestRelay[] = [relay];
  /** smtp-server session ids of connections we cut (their last 250 may never have arrived). */
  const cut = new Set<string>();
  const openSessions = () => [...(relay.server as unknown as { connections: Set<{ id: string; _socket: import('node:net').Socket }> }).connections];

  let chaos = true;
  let busy = Promise.resolve();
  const chaosLoop = async () => {
    while (chaos) {
      await wait(20 + Math.floor(random() * 100));
      if (!chaos) break;
      const dice = random();
      if (dice < 0.2) {
        // Restart, sometimes as a relay that waits before each 250.
        for (const c of openSessions()) cut.add(c.id);
        const old = relay;
        await old.close();
        report.connections += old.connections;
        await wait(Math.floor(random() * 300));
        const slow = random() < 0.5;
        let next: TestRelay | undefined;
        for (let k = 0; k < 50 && !next; k++) {
          try {
            next = await startRelay({ port, ...(slow ? { acceptDelayMs: 50 + Math.floor(random() * 400) } : {}) });
          } catch {
            await wait(50); // the port is not free yet
          }
        }
        if (!next) throw new Error(`relay could not listen on port ${port} again`);
        relay = next;
        relays.push(next);
        report.restarts++;
        if (slow) report.slowRestarts++;
      } else if (dice < 0.6) {
        const open = openSessions();
        if (open.length > 0) {
          const c = open[Math.floor(random() * open.length)]!;
          cut.add(c.id);
          c._socket.destroy();
          report.drops++;
        }
      } else if (dice < 0.8) {
        relay.setFaults({ dropMidData: true });
        await wait(50 + Math.floor(random() * 200));
        relay.setFaults({});
        report.midDataDrops++;
      } else {
        relay.setFaults({ greeting: '421 4.3.2 Service shutting down' });
        await wait(50 + Math.floor(random() * 300));
        relay.setFaults({});
        report.greetingRefusals++;
      }
    }
  };

  try {
    busy = chaosLoop();
    const chaosEnd = setTimeout(() => (chaos = false), o.chaosMs);
    for (let round = 0; round < 60 && queuedIds(t.spool).size > 0; round++) {
      const child = spawn(o.sendmail, ['-q'], { env: cleanEnv(env), stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
      const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
      clearTimeout(timer);
      report.runnerRuns++;
      if (code !== 0) report.details.push(`runner exited ${code}: ${stderr.trim().split('\n').pop()}`);
      o.log?.(`run ${round + 1}: ${queuedIds(t.spool).size} left, ${relays.reduce((n, r) => n + r.received.length, 0)} received`);
      if (!chaos && queuedIds(t.spool).size > 0) await wait(300);
    }
    clearTimeout(chaosEnd);
    chaos = false;
    await busy;
    report.connections += relay.connections;
    const seen = new Map<string, string[]>(); // mid -> session ids of its copies
    for (const r of relays) {
      for (const m of r.received) {
        const mid = messageId(m.data);
        const w = mid ? wire.get(mid) : undefined;
        if (!w || !m.data.equals(w.data)) {
          report.halfWritten++;
          report.details.push(`received ${mid}: ${w ? 'bytes differ' : 'never committed'}`);
          continue;
        }
        seen.set(mid!, [...(seen.get(mid!) ?? []), m.sessionId]);
      }
    }
    const queued = queuedIds(t.spool);
    for (const [mid, w] of wire) {
      const sessions = seen.get(mid) ?? [];
      if (sessions.length === 0) {
        report.lost++;
        report.details.push(`lost ${w.qid}${queued.has(w.qid) ? ' (still queued)' : ''}`);
        continue;
      }
      report.delivered++;
      for (let k = 1; k < sessions.length; k++) {
        if (cut.has(sessions[k - 1]!)) report.duplicates++;
        else {
          report.unexplainedDuplicates++;
          report.details.push(`duplicate ${w.qid} on sessions ${sessions.join(',')}`);
        }
      }
    }
  } finally {
    chaos = false;
    await busy.catch(() => {});
    await relay.close();
    t.cleanup();
  }
  report.ms = Date.now() - t0;
  return report;
}

// ---- concurrency -----------------------------------------------------------------------------

export interface ConcurrencyOptions {
  submitters: number;
  runners: number;
  sendmail: string;
  log?: (line: string) => void;
}

export interface ConcurrencyReport {
  submitters: number;
  runners: number;
  submitted: number;
  failedSubmissions: string[];
  delivered: number;
  lost: number;
  duplicates: number;
  incomplete: number;
  runnerRuns: number;
  ms: number;
}

/** `submitters` concurrent `sendmail` calls while `runners` queue runners flush over and over. */
export async function concurrencyTorture(o: ConcurrencyOptions): Promise<ConcurrencyReport> {
  const { run } = await import('./run.js');
  const t0 = Date.now();
  const s = await relayEnv();
  const report: ConcurrencyReport = {
    submitters: o.submitters,
    runners: o.runners,
    submitted: 0,
    failedSubmissions: [],
    delivered: 0,
    lost: 0,
    duplicates: 0,
    incomplete: 0,
    runnerRuns: 0,
    ms: 0,
  };
  const body = (i: number) => `concurrent message ${i}\n${'payload '.repeat(50)}\nend ${i}\n`;
  try {
    let submitting = true;
    const runnerLoop = async () => {
      for (let round = 0; round < 500; round++) {
        if (!submitting && queuedIds(s.t.spool).size === 0) return;
        const r = await run(o.sendmail, ['-q'], { env: s.env, timeoutMs: 300_000 });
        report.runnerRuns++;
        if (r.code !== 0) o.log?.(`runner exited ${r.code}: ${r.stderr}`);
        await wait(50);
      }
    };
    const loops = Array.from({ length: o.runners }, () => runnerLoop());
    const results = await Promise.all(
      Array.from({ length: o.submitters }, (_, i) =>
        run(o.sendmail, ['-odq', '-i', `c${i}@example.com`], {
          input: `Message-ID: <conc-${i}@torture.test>\nSubject: concurrent ${i}\n\n${body(i)}`,
          env: s.env,
          timeoutMs: 300_000,
        }),
      ),
    );
    submitting = false;
    results.forEach((r, i) => (r.code === 0 ? report.submitted++ : report.failedSubmissions.push(`${i}: exit ${r.code} ${r.stderr.trim()}`)));
    await Promise.all(loops);
    const counts = new Map<string, number>();
    for (const m of s.relay.received) {
      const mid = messageId(m.data) ?? '';
      counts.set(mid, (counts.get(mid) ?? 0) + 1);
      const i = /^<conc-(\d+)@/.exec(mid)?.[1];
      if (i === undefined || !m.data.toString('latin1').endsWith(`\r\n\r\n${body(Number(i)).replace(/\n/g, '\r\n')}`)) report.incomplete++;
    }
    results.forEach((r, i) => {
      if (r.code !== 0) return;
      const n = counts.get(`<conc-${i}@torture.test>`) ?? 0;
      if (n === 0) report.lost++;
      else report.delivered++;
      report.duplicates += Math.max(0, n - 1);
    });
  } finally {
    await s.close();
  }
  report.ms = Date.now() - t0;
  return report;
}
