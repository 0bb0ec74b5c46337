/**
 * test/helpers/torture.ts — shared pieces of the crash, fault and scale suites
 * (test/e2e/torture*.test.ts, scripts/torture, scripts/bench-queue):
 *
 *  - relayEnv(): a spool plus the OUTBOX_RELAY* environment for a test relay (./relay.ts);
 *  - hooks(): watch the relay's SMTP events (connect, MAIL, DATA bytes, after the 250 reply)
 *    by wrapping smtp-server's per-instance handlers, so a test can kill -9 the runner at an
 *    exact point of the dialogue without changing relay.ts;
 *  - tally(): count deliveries per message (by the Message-ID the spool wrote) into delivered
 *    once / duplicated / lost, against the set of messages that were committed;
 *  - peak RSS of a child (VmHWM from /proc) and a bounded pool.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { startRelay, type RelayOptions, type TestRelay, type ReceivedMessage } from './relay.js';
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
  return { relay, t, env: envFor(relay, t, extra), close: async () => { await relay.close(); t.cleanup(); } };
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

export interface Tally {
  committed: number;
  deliveredOnce: number;
  duplicates: number;
  /** committed, not delivered, and no longer in the queue */
  lost: string[];
  /** committed and still queued (not yet delivered) */
  stillQueued: number;
  /** received by the relay but never committed (half-written or invented) */
  unknown: string[];
}

/**
 * Compare what the relay received with what was committed. `committed` maps Message-ID to the
 * queue id; `queued` is the set of queue ids still in the spool afterwards.
 */
export function tally(committed: Map<string, string>, received: ReceivedMessage[], queued: Set<string>): Tally {
  const counts = new Map<string, number>();
  const unknown: string[] = [];
  for (const m of received) {
    const mid = messageId(m.data);
    if (!mid || !committed.has(mid)) {
      unknown.push(mid ?? '(no Message-ID)');
      continue;
    }
    counts.set(mid, (counts.get(mid) ?? 0) + 1);
  }
  let deliveredOnce = 0;
  let duplicates = 0;
  let stillQueued = 0;
  const lost: string[] = [];
  for (const [mid, qid] of committed) {
    const n = counts.get(mid) ?? 0;
    if (n >= 1) deliveredOnce++;
    duplicates += Math.max(0, n - 1);
    if (n === 0) {
      if (queued.has(qid)) stillQueued++;
      else lost.push(`${qid} ${mid}`);
    }
  }
  return { committed: committed.size, deliveredOnce, duplicates, lost, stillQueued, unknown };
}

/** Message-ID -> queue id for every committed message of a spool. */
export function committedMessages(spool: string): Map<string, string> {
  const out = new Map<string, string>();
  const ctl = path.join(spool, 'ctl');
  if (!fs.existsSync(ctl)) return out;
  for (const id of fs.readdirSync(ctl)) {
    const mid = messageId(fs.readFileSync(path.join(spool, 'msg', id)));
    if (mid) out.set(mid, id);
  }
  return out;
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
