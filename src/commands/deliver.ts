/**
 * commands/deliver.ts — `outbox deliver [-C FILE] [-v] [--background] ID` (arguments: cli/args.ts): deliver one
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
 * --background is the kick after a commit: it becomes the lingering runner (runner/daemon.ts):
 * it delivers every due message, keeps its connection, takes what is committed in the next
 * `[delivery] linger` seconds (default 10) on that connection, and then exits. One per spool: a
 * kick that finds a live runner exits at once (that runner's watch sees the message). A burst
 * of 2,000 submissions thus runs one process and a few connections, never 2,000 processes (the
 * failure mode of dma).
 */
import { withFix } from '../queue/problems.js';
import { EX_DATAERR, EX_NOHOST, EX_NOUSER, EX_OK, EX_TEMPFAIL, EX_UNAVAILABLE } from '../sysexits.js';
import type { Io } from '../io.js';
import { loadConfig } from '../config/config.js';
import { has, parseForm, usageError } from '../cli/args.js';
import { isQueueId } from '../spool/format.js';
import type { MessageResult } from '../runner/engine.js';
import { onSignals, setupEngine } from '../runner/setup.js';
import { runLingering } from '../runner/daemon.js';
import type { Outcome } from '../runner/classify.js';

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
  const p = parseForm('deliver', args);
  const id = p.operands[0]!;
  if (!isQueueId(id)) throw usageError('deliver', `${JSON.stringify(id)} is not a queue id (12 characters, as mailq shows them)`);
  return { ...(p.configFile !== undefined ? { configFile: p.configFile } : {}), verbose: has(p, 'v'), background: has(p, 'background'), id };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function command(args: string[], io: Io): Promise<number> {
  const a = parseArgs(args);
  const config = loadConfig({ ...(a.configFile ? { file: a.configFile } : {}) });
  if (a.background) return runLingering(config, io, a.verbose);
  const { engine, log } = setupEngine(config, io, { verbose: a.verbose, idleMs: 0, relayDownMs: 24 * 3600_000, slots: 1 });
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
    // -odi: if another runner (the daemon) holds the message, wait for it, then try ourselves.
    const deadline = Date.now() + 120_000;
    for (;;) {
      result = undefined;
      await deliver(a.id);
      if (interrupted || !result || (result as MessageResult).state !== 'locked' || Date.now() > deadline) break;
      await sleep(100);
    }
    for (const b of bounces.splice(0)) if (!interrupted) await deliver(b);
    if (interrupted) return EX_TEMPFAIL;
    const r = result as MessageResult | undefined;
    if (!r) return EX_TEMPFAIL;
    const code = exitForResult(r);
    if (code !== EX_OK && r.state === 'done') {
      for (const [rcpt, o] of r.outcomes) {
        if (o.status !== 'sent')
          io.stderr.write(`outbox: ${a.id}: <${rcpt}>: ${o.status === 'failed' ? 'bounced' : 'deferred'}: ${withFix(o.reason, o.fix)}\n`);
      }
    } else if (r.state === 'held') {
      io.stderr.write(`outbox: ${a.id}: ${r.heldReason ?? `on hold: release it with outbox queue release ${a.id}`}\n`);
    }
    return code;
  } finally {
    offSignals();
    await engine.stop(0);
    await log.close();
  }
}
