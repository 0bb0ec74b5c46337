/**
 * runner/queue-run.ts — `sendmail -q`: one queue run, then exit (the daemon, `-q15m` / `-bd`,
 * is daemon.ts).
 *
 *   -q            every message is tried now (due or not: -q forces), then exit 0 — also when
 *                 some were deferred: a deferral is queue state, not an error of the run.
 *   -qI<s> -qR<s> -qS<s>   only ids / pending recipients / senders containing <s> (case-blind).
 *   SIGTERM/SIGINT: take no new messages, give those in flight a few seconds, then abandon them
 *                 (recorded as deferred: nothing is lost; a kill during DATA may duplicate).
 *   -v            the SMTP transcript on stderr (credentials redacted); on a terminal also a
 *                 progress line (done/total, rate); nothing of that when stderr is not a tty.
 *
 * On the system spool (README "Privilege model"): a run started by root first becomes the spool's
 * owner (spool/privileges.ts) and first picks up incoming/ (spool/pickup.ts); a user who cannot
 * read the spool asks the daemon to run the queue (queue/query.ts).
 *
 * Returns the exit status (0; 78 when messages wait and no relay is configured; 75 when
 * interrupted). Next: engine.ts (the engine).
 */
import type { Io } from '../io.js';
import type { Config } from '../config/config.js';
import { EX_CONFIG, EX_OK, EX_TEMPFAIL, OutboxError } from '../sysexits.js';
import { listIds, sweepOrphans } from '../spool/spool.js';
import type { Engine } from './engine.js';
import { NO_RELAY_FIX } from '../relay/env.js';
import { pickupIncoming } from '../spool/pickup.js';
import { type QueueRunMode, onSignals, setupEngine, waitingRecord } from './setup.js';

/** A progress line on a terminal, at most twice a second. */
function progressPrinter(io: Io, total: () => number, engine: Engine): { tick(): void; end(): void } {
  const tty = Boolean((io.stderr as { isTTY?: boolean }).isTTY);
  const t0 = Date.now();
  let last = 0;
  const print = (final: boolean) => {
    const done = engine.stats.done;
    const secs = (Date.now() - t0) / 1000;
    const rate = secs > 0 ? Math.round(done / secs) : 0;
    io.stderr.write(
      `\rqueue run: ${done}/${total()} messages, ${engine.stats.sent} sent, ${engine.stats.deferred} deferred, ${engine.stats.failed} bounced, ${rate} msg/s${final ? '\n' : ''}`,
    );
  };
  return {
    tick() {
      if (!tty || Date.now() - last < 500) return;
      last = Date.now();
      print(false);
    },
    end() {
      if (tty && engine.stats.done > 0) print(true);
    },
  };
}

export async function runQueue(mode: QueueRunMode, config: Config, io: Io): Promise<number> {
  // A user who cannot read the system spool asks the daemon to run the queue (Postfix lets
  // anyone flush, too); without a daemon, the one-line answer says who can, and how (exit 69).
  const { mustAskDaemon } = await import('../queue/access.js');
  if (mustAskDaemon(config, process.getuid?.() ?? 0)) {
    const { framedViaDaemon } = await import('../queue/query-client.js');
    return framedViaDaemon(config, 'flush', [], io, 'sendmail -q');
  }
  return runOnce(mode, config, io);
}

async function runOnce(mode: QueueRunMode, config0: Config, io: Io): Promise<number> {
  const { engine, log, paths, config } = setupEngine(config0, io, { verbose: mode.verbose, idleMs: 0, relayDownMs: 24 * 3600_000 });
  let interrupted = false;
  const off = onSignals(() => {
    interrupted = true;
    void engine.stop(5000);
  });
  try {
    await sweepOrphans(paths, config.orphanGraceSeconds * 1000);
    // What other users dropped into incoming/ joins the queue first (src/spool/pickup.ts); a
    // user over max_pending_per_user waits for the next pass, which follows at once (bounded).
    for (let pass = 0; pass < 100 && (await pickupIncoming(paths, config, log)).waiting > 0; pass++);
    // Without filters every id goes to the engine, which reads each record under its lock
    // anyway (and skips held or finished ones): one read per message instead of two.
    const f = mode.filter;
    const filtered = f.ids.length + f.recipients.length + f.senders.length > 0;
    const ids: string[] = [];
    for (const id of await listIds(paths)) {
      if (filtered) {
        if (!waitingRecord(paths, id, f)) continue;
      }
      ids.push(id);
    }
    let total = ids.length;
    if (total > 0 && !config.defaultRelay && (config.routes ?? []).length === 0) {
      log.line(null, `${total} message(s) queued but no relay is configured`, 'error');
      throw new OutboxError(EX_CONFIG, `no relay configured: ${NO_RELAY_FIX}`);
    }
    const progress = progressPrinter(io, () => total, engine);
    engine.onResult = (r) => {
      // Bounces generated during the run are delivered in the same run.
      for (const b of r.bounceIds) {
        total++;
        engine.enqueue(b, true);
      }
      if (mode.verbose) progress.tick();
    };
    for (const id of ids) engine.enqueue(id, true);
    await engine.idle();
    if (mode.verbose) progress.end();
    return interrupted ? EX_TEMPFAIL : EX_OK;
  } finally {
    off();
    await engine.stop(5000);
    await log.close();
  }
}
