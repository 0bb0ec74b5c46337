/**
 * runner/daemon.ts — a runner that stays: the queue daemon (`sendmail -bd`, `-q15m`) and the
 * lingering runner that a background kick starts (`outbox deliver --background`, from
 * submit/kick.ts when no runner watches the spool).
 *
 * Both claim run/daemon.pid (spool/pidfile.ts), so submitters start no delivery of their own
 * while one runs; both watch ctl/ with fs.watch, so a committed message is picked up within
 * milliseconds and goes out on the connection already open (idle sessions are kept), and both
 * deliver every due message they see. The daemon also sleeps until the next retry is due,
 * rescans the whole queue every scan interval (-q<interval>, else [delivery] scan_interval,
 * default 1 min) as the safety net behind the watch, watches incoming/ and serves run/query.sock
 * on the system spool (queue/query.ts), and rereads its configuration on SIGHUP and when the
 * file changes (config-tag.ts; a bad new file is reported and the old settings stay).
 *
 * The lingering runner (`[delivery] linger`, default 10 s; 0 = leave when done) exits once it
 * has had nothing to do for that long. A burst from a cron minute or a PHP form thus costs one
 * process and one login. Its exit never strands a message: it gives up run/daemon.pid first
 * and only then looks at the queue a last time, while a submitter commits first and only then
 * reads the pid file. A message committed before that last look is delivered by it; one
 * committed after finds no pid file, and its submitter starts a new runner. A kick that finds
 * another runner alive exits at once: that runner's watch (set up before its first scan) sees
 * the message. One lingering runner per spool, never a process per message.
 *
 * The daemon runs in the foreground (systemd Type=simple; use & or nohup elsewhere) and keeps
 * idle sessions for a few seconds, so that a burst of messages reuses one login. After a reload,
 * messages held for a configuration problem are due at once (engine.ts isDue()).
 * SIGTERM/SIGINT: take no new messages, give those in flight a few seconds, then abandon them
 * (recorded as deferred: nothing is lost; a kill during DATA may duplicate). SIGHUP: reload and
 * rescan (the daemon keeps running). Returns 0; throws EX_TEMPFAIL when a daemon already runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Io } from '../io.js';
import type { Config } from '../config/config.js';
import { EX_OK, EX_TEMPFAIL, OutboxError } from '../sysexits.js';
import { isQueueId } from '../spool/format.js';
import { listIds, sweepOrphans } from '../spool/spool.js';
import { claimPidFile, releasePidFile } from '../spool/pidfile.js';
import { pickupIncoming } from '../spool/pickup.js';
import { INCOMING } from '../spool/drop.js';
import { startQueryServer, type QueryServer } from '../queue/query.js';
import { loadConfig } from '../config/config.js';
import { configTag } from './config-tag.js';
import { relaysFor } from '../relay/env.js';
import { type QueueRunMode, defaultSlots, onSignals, setupEngine, waitingRecord } from './setup.js';
import { rerunIfBusy } from '../rerun.js';

/** Users' `sendmail -q` through the daemon forces a whole-queue attempt at most this often. */
const FLUSH_EVERY_MS = 10_000;

/** The lingering runner's idle window when [delivery] linger is not set. */
const DEFAULT_LINGER_MS = 10_000;

export interface DaemonOptions {
  /** Be the lingering runner: leave after this long without work (see the header). */
  lingerMs?: number;
}

/** The daemon's scan interval: -q<interval>, else [delivery] scan_interval, else 1 minute. */
export function scanInterval(mode: Pick<QueueRunMode, 'intervalMs'>, config: Pick<Config, 'deliverySettings'>): number {
  return mode.intervalMs ?? config.deliverySettings?.scanIntervalMs ?? 60_000;
}

/** The lingering runner (`outbox deliver --background`): deliver, then take more mail for `[delivery] linger`. */
export function runLingering(config: Config, io: Io, verbose: boolean): Promise<number> {
  const mode: QueueRunMode = { kind: 'queue-run', daemon: true, filter: { ids: [], recipients: [], senders: [] }, verbose, ignored: [] };
  return runDaemon(mode, config, io, { lingerMs: config.deliverySettings?.lingerMs ?? DEFAULT_LINGER_MS });
}

export async function runDaemon(mode: QueueRunMode, config0: Config, io: Io, opts: DaemonOptions = {}): Promise<number> {
  const lingering = opts.lingerMs !== undefined;
  const lingerMs = opts.lingerMs ?? 0;
  // Idle connections are kept as long as the runner may still get work for them.
  const idleMs = lingering ? Math.max(lingerMs, 1000) : 10_000;
  const env = process.env;
  const { engine, log, paths } = setupEngine(config0, io, { verbose: mode.verbose, idleMs, relayDownMs: 30_000 });
  let config = engine.opts.config;
  let scanMs = scanInterval(mode, config);
  const other = claimPidFile(paths.run);
  if (other !== null) {
    await log.close();
    // A kick: that runner's watch sees our message. A second daemon: refused.
    if (lingering) return EX_OK;
    throw new OutboxError(EX_TEMPFAIL, `a queue daemon is already running${other > 0 ? ` (pid ${other})` : ''}`);
  }
  if (lingering) log.line(null, `runner started: delivering, then lingering ${Math.round(lingerMs / 100) / 10} s for more mail`);
  else log.line(null, `daemon started: spool ${config.spool}, queue scan every ${Math.round(scanMs / 1000)} s, ${defaultSlots(config)} parallel connections`);
  let lastWork = Date.now();
  let stopping = false;
  let wakeTimer: NodeJS.Timeout | undefined;
  let wakeAt = Infinity;

  const schedule = (at: number) => {
    if (stopping || at >= wakeAt) return;
    wakeAt = at;
    clearTimeout(wakeTimer);
    wakeTimer = setTimeout(
      () => {
        wakeAt = Infinity;
        void scan();
      },
      Math.max(0, Math.min(at - Date.now(), 2 ** 31 - 1)),
    );
  };

  /** Look at one message: enqueue it when due, else remember when it will be. */
  const consider = (id: string) => {
    if (stopping || engine.isBusyWith(id)) return;
    const rec = waitingRecord(paths, id, mode.filter);
    if (!rec) return;
    if (engine.isDue(rec, Date.now())) {
      lastWork = Date.now();
      engine.enqueue(id, false);
    } else if (!lingering) schedule(rec.nextAttempt);
  };

  /**
   * Reread the configuration when it (or a file it names) changed, or when asked (SIGHUP). The
   * file is read as the same path the daemon started with (-C, OUTBOX_CONFIG or the default).
   */
  let loadedTag = configTag(config, env);
  const reload = (why: string, always: boolean) => {
    const now = configTag(config, env);
    if (!always && now === loadedTag) return;
    try {
      const next = relaysFor(loadConfig({ ...(config0.file ? { file: config0.file } : {}), env }), env);
      if (next.spool !== config.spool)
        log.line(null, `reload: the spool cannot change in a running daemon (${config.spool} kept; restart it to use ${next.spool})`, 'warning');
      config = { ...next, spool: config.spool, system: config.system };
      engine.reconfigure(config);
      loadedTag = configTag(config, env);
      log.line(null, `${why}: configuration reloaded${config.file ? ` from ${config.file}` : ''}`);
      const ms = scanInterval(mode, config);
      if (ms !== scanMs) {
        scanMs = ms;
        clearInterval(scanTimer);
        if (!lingering) scanTimer = setInterval(() => void scan(), scanMs);
        log.line(null, `queue scan every ${Math.round(scanMs / 1000)} s`);
      }
    } catch (e) {
      loadedTag = now;
      log.line(null, `${why}: configuration not reloaded, the previous settings stay: ${(e as Error).message}`, 'error');
    }
  };

  // One scan at a time; a trigger during a scan makes one more (src/rerun.ts).
  const scan = rerunIfBusy(
    async () => {
      try {
        reload('configuration changed', false);
        await sweepOrphans(paths, config.orphanGraceSeconds * 1000);
        await pickupIncoming(paths, config, log);
        for (const id of await listIds(paths)) consider(id);
      } catch (e) {
        log.line(null, `queue scan failed: ${(e as Error).message}`, 'error');
      }
    },
    () => stopping,
  );

  engine.onResult = (r) => {
    lastWork = Date.now();
    for (const b of r.bounceIds) engine.enqueue(b, false);
    // A deferred message: wake up when it is due. Only after an attempt of ours: a message
    // locked by another runner comes back through the watch or the scan, never in a loop.
    if (r.state === 'done' && r.remaining > 0 && !stopping) consider(r.id);
  };

  // Why both: inotify sees a commit (the rename into ctl/) at once; the periodic scan catches
  // anything a watch can miss (overflow, a spool on NFS, a restart of the watch).
  let watcher: fs.FSWatcher | undefined;
  try {
    watcher = fs.watch(paths.ctl, { persistent: true }, (_event, name) => {
      const id = name ? String(name) : '';
      if (isQueueId(id)) consider(id);
    });
    watcher.on('error', (e) => log.line(null, `watching ${paths.ctl} failed (${e.message}); relying on the periodic scan`, 'warning'));
  } catch (e) {
    log.line(null, `cannot watch ${paths.ctl} (${(e as Error).message}); relying on the periodic scan`, 'warning');
  }
  // incoming/ (system spool): a committed envelope triggers a pickup at once; the picked-up
  // message's ctl/ commit is then seen by the watch above.
  const pickupSoon = rerunIfBusy(
    async () => {
      try {
        // Entries left waiting (a user over max_pending_per_user) go in the next pass, at once.
        return (await pickupIncoming(paths, config, log)).waiting > 0;
      } catch (e) {
        log.line(null, `pickup failed: ${(e as Error).message}`, 'error');
        return false;
      }
    },
    () => stopping,
  );
  let incomingWatcher: fs.FSWatcher | undefined;
  const incomingDir = path.join(paths.root, INCOMING);
  if (fs.existsSync(incomingDir)) {
    try {
      incomingWatcher = fs.watch(incomingDir, { persistent: true }, (_event, name) => {
        const n = name ? String(name) : '';
        if (n.endsWith('.env') && !n.startsWith('.')) void pickupSoon();
      });
      incomingWatcher.on('error', (e) => log.line(null, `watching ${incomingDir} failed (${e.message}); relying on the periodic scan`, 'warning'));
    } catch (e) {
      log.line(null, `cannot watch ${incomingDir} (${(e as Error).message}); relying on the periodic scan`, 'warning');
    }
  }
  // mailq for users who cannot read the queue (src/queue/query.ts).
  let query: QueryServer | null = null;
  try {
    let lastFlush = 0;
    if (!lingering) {
      query = await startQueryServer(paths, config, log, {
        // `sendmail -q` of a user: pick up, then try every queued message now (held ones stay).
        // At most once per FLUSH_EVERY_MS: anyone may ask, and forced attempts skip the backoff.
        flush: async () => {
          await pickupSoon();
          if (Date.now() - lastFlush < FLUSH_EVERY_MS) return 0;
          lastFlush = Date.now();
          const ids = await listIds(paths);
          for (const id of ids) engine.enqueue(id, true);
          log.line(null, `queue run requested through ${path.join(paths.run, 'query.sock')}: ${ids.length} message(s)`);
          return ids.length;
        },
      });
    }
  } catch (e) {
    log.line(
      null,
      `cannot serve queue queries on ${path.join(paths.run, 'query.sock')} (${(e as Error).message}); mailq works for root and the spool owner only`,
      'warning',
    );
  }
  // The lingering runner lives seconds: its first scan and the watch are enough.
  let scanTimer = lingering ? undefined : setInterval(() => void scan(), scanMs);
  await scan();

  // SIGHUP (systemd's reload): reread the configuration, rescan the queue now; SIGTERM/SIGINT: stop.
  const onHup = () => {
    log.line(null, 'SIGHUP: rereading the configuration and rescanning the queue');
    reload('SIGHUP', true);
    void scan();
  };
  let idleCheck: NodeJS.Timeout | undefined;
  const why = await new Promise<'signal' | 'idle'>((resolve) => {
    const off = onSignals((sig) => {
      if (sig === 'SIGHUP') return onHup();
      if (stopping) return;
      stopping = true;
      off();
      log.line(null, `${lingering ? 'runner' : 'daemon'} stopping (${sig})`);
      resolve('signal');
    });
    if (lingering) {
      idleCheck = setInterval(
        () => {
          if (stopping || scan.busy || engine.pending > 0 || Date.now() - lastWork < lingerMs) return;
          stopping = true;
          off();
          resolve('idle');
        },
        Math.min(250, Math.max(20, lingerMs / 4)),
      );
    }
  });
  clearInterval(idleCheck);
  clearInterval(scanTimer);
  clearTimeout(wakeTimer);
  watcher?.close();
  incomingWatcher?.close();
  await query?.close();
  if (why === 'idle') {
    // The pid file goes first, then the last look (see the header): nothing is stranded.
    releasePidFile(paths.run);
    for (const id of await listIds(paths)) {
      const rec = waitingRecord(paths, id);
      if (rec && !engine.isBusyWith(id) && engine.isDue(rec, Date.now())) engine.enqueue(id, false);
    }
    await engine.idle();
  }
  await engine.stop(5000);
  releasePidFile(paths.run);
  log.line(null, lingering ? 'runner done' : 'daemon stopped');
  await log.close();
  return EX_OK;
}
