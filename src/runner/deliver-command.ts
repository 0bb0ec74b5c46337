/**
 * runner/deliver-command.ts — `outbox deliver [-C FILE] [-v] [--background] ID`: deliver one
 * queued message now. The submitter runs it for -odi (and waits) and, with --background, as
 * the detached kick after a commit when no daemon runs (src/submit/kick.ts).
 *
 * Exit status (it becomes sendmail's with -odi):
 *   0    every recipient accepted by the relay (or the message was already delivered)
 *   75   EX_TEMPFAIL: at least one recipient deferred (it stays queued and is retried), the
 *        message is on hold, or a configuration problem (AUTH, TLS: the reason is on stderr)
 *   67   EX_NOUSER: every remaining recipient failed permanently, with 5.1.x (address unknown)
 *   68   EX_NOHOST: likewise with 5.1.2 / 5.4.4 (domain unknown)
 *   65   EX_DATAERR: likewise with 5.6.x or 5.3.4 (the message itself was refused)
 *   69   EX_UNAVAILABLE: likewise, any other permanent failure
 *   (a bounce is queued to the sender for permanent failures, as sendmail does.)
 *
 * --background bounds the number of concurrent kicks: it first takes one of min(4, max_parallel)
 * kick slots (locks run/kick-N through spool/lock.ts). Without a free slot it exits 0 at once:
 * each slot holder, after its own message, keeps delivering messages that were never attempted,
 * and looks once more after giving its slot back, so a message whose kick found every slot busy
 * is still picked up. A burst of 2,000 submissions thus runs at most 4 deliveries at a time,
 * never 2,000 processes (the failure mode of dma).
 */
import { EX_DATAERR, EX_NOHOST, EX_NOUSER, EX_OK, EX_TEMPFAIL, EX_UNAVAILABLE, EX_USAGE, OutboxError } from '../sysexits.js';
import type { Io } from '../main.js';
import { loadConfig } from '../config/config.js';
import { takeConfigFlag } from '../config/config-flag.js';
import { isQueueId, makeQueueId } from '../spool/format.js';
import { tryLock, type Release } from '../spool/lock.js';
import { listIds, readControl } from '../spool/spool.js';
import type { MessageResult } from './runner.js';
import { defaultSlots, onSignals, setupEngine } from './queue-run.js';
import type { Outcome } from './classify.js';

/** The exit status for one message's delivery result. Pure. */
export function exitForResult(r: Pick<MessageResult, 'state' | 'outcomes' | 'remaining'>): number {
  if (r.state === 'gone') return EX_OK;
  if (r.state !== 'done') return EX_TEMPFAIL;
  if (r.remaining > 0) return EX_TEMPFAIL;
  const failed = [...r.outcomes.values()].filter((o: Outcome) => o.status === 'failed');
  if (failed.length === 0) return EX_OK;
  const codes = failed.map((o) => o.dsn);
  if (codes.every((c) => c === '5.1.2' || c === '5.4.4')) return EX_NOHOST;
  if (codes.every((c) => c.startsWith('5.1.'))) return EX_NOUSER;
  if (codes.every((c) => c.startsWith('5.6.') || c === '5.3.4')) return EX_DATAERR;
  return EX_UNAVAILABLE;
}

function parseArgs(args: string[]): { configFile?: string; verbose: boolean; background: boolean; id: string } {
  const { configFile, rest } = takeConfigFlag(args);
  let verbose = false;
  let background = false;
  let id: string | undefined;
  for (const a of rest) {
    if (a === '-v') verbose = true;
    else if (a === '--background') background = true;
    else if (!a.startsWith('-') && id === undefined) id = a;
    else throw new OutboxError(EX_USAGE, `deliver: unexpected argument "${a}" (usage: outbox deliver [-C FILE] [-v] ID)`);
  }
  if (!id || !isQueueId(id)) throw new OutboxError(EX_USAGE, `deliver: expected a queue id (usage: outbox deliver [-C FILE] [-v] ID)`);
  return { ...(configFile ? { configFile } : {}), verbose, background, id };
}

/** Concurrent background deliveries at most (see the header). */
export const KICK_SLOTS = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function command(args: string[], io: Io): Promise<number> {
  const a = parseArgs(args);
  const config = loadConfig({ ...(a.configFile ? { file: a.configFile } : {}) });
  const { engine, log, paths } = setupEngine(config, io, { verbose: a.verbose, idleMs: 0, relayDownMs: 24 * 3600_000, slots: 1 });
  let result: MessageResult | undefined;
  let interrupted = false;
  const offSignals = onSignals(() => {
    interrupted = true;
    void engine.stop(0);
  });
  const bounces: string[] = [];
  engine.onResult = (r) => {
    if (r.id === a.id) result = r;
    bounces.push(...r.bounceIds);
  };
  const deliver = async (id: string) => {
    engine.enqueue(id, true);
    await engine.idle();
  };
  try {
    if (a.background) {
      // At most 4 kick processes (each ~40 MB of RSS), fewer if max_parallel is lower.
      await backgroundRun(a.id, config.lockStaleMs, Math.min(KICK_SLOTS, defaultSlots(config)), paths, deliver, () => interrupted);
    } else {
      // -odi: if another runner (the daemon) holds the message, wait for it, then try ourselves.
      const deadline = Date.now() + 120_000;
      for (;;) {
        result = undefined;
        await deliver(a.id);
        if (interrupted || !result || (result as MessageResult).state !== 'locked' || Date.now() > deadline) break;
        await sleep(100);
      }
    }
    for (const b of bounces.splice(0)) if (!interrupted) await deliver(b);
    if (a.background) return EX_OK;
    if (interrupted) return EX_TEMPFAIL;
    const r = result as MessageResult | undefined;
    if (!r) return EX_TEMPFAIL;
    const code = exitForResult(r);
    if (code !== EX_OK && r.state === 'done') {
      for (const [rcpt, o] of r.outcomes) {
        if (o.status !== 'sent') io.stderr.write(`outbox: ${a.id}: <${rcpt}>: ${o.status === 'failed' ? 'bounced' : 'deferred'}: ${o.reason}${o.fix ? `; fix: ${o.fix}` : ''}\n`);
      }
    }
    return code;
  } finally {
    offSignals();
    await engine.stop(0);
    await log.close();
  }
}

/** Take one of `slots` kick slots, or null. */
async function takeKickSlot(paths: import('../spool/spool.js').SpoolPaths, staleMs: number, slots: number): Promise<Release | null> {
  const start = process.pid % slots;
  for (let i = 0; i < slots; i++) {
    const r = await tryLock(paths, `kick-${(start + i) % slots}`, staleMs);
    if (r) return r;
  }
  return null;
}

/** How far back a kick looks for messages that were never attempted (older: the next -q). */
const KICK_WINDOW_MS = 3600_000;

/** Messages of the last hour never attempted and not on hold: what a kick may have left behind. */
async function unattempted(paths: import('../spool/spool.js').SpoolPaths): Promise<string[]> {
  const out: string[] = [];
  // Queue ids sort by arrival time, so older messages are skipped without reading them: a kick
  // costs the same with 100,000 deferred messages in the queue.
  const since = makeQueueId(Date.now() - KICK_WINDOW_MS, () => 0);
  for (const id of await listIds(paths)) {
    if (id < since) continue;
    try {
      const rec = await readControl(paths, id);
      if (rec.attempts === 0 && !rec.hold && rec.nextAttempt <= Date.now()) out.push(id);
    } catch {
      // removed meanwhile
    }
  }
  return out;
}

async function backgroundRun(
  id: string,
  staleMs: number,
  slots: number,
  paths: import('../spool/spool.js').SpoolPaths,
  deliver: (id: string) => Promise<void>,
  interrupted: () => boolean,
): Promise<void> {
  let first = true;
  // Bounded: each round delivers at least one message or ends.
  for (let round = 0; round < 100 && !interrupted(); round++) {
    const slot = await takeKickSlot(paths, staleMs, slots);
    if (!slot) return; // every slot is busy: their holders will pick our message up
    try {
      if (first) await deliver(id);
      first = false;
      for (let i = 0; i < 10_000 && !interrupted(); i++) {
        const todo = await unattempted(paths);
        if (todo.length === 0) break;
        for (const t of todo) {
          if (interrupted()) break;
          await deliver(t);
        }
        // A message that stays unattempted (held by a runner that died) must not loop us.
        const after = await unattempted(paths);
        if (after.length > 0 && after.every((x) => todo.includes(x))) return;
      }
    } finally {
      await slot();
    }
    // Look once more after giving the slot back (see the header).
    if ((await unattempted(paths)).length === 0) return;
  }
}
