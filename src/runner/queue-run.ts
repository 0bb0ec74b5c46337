/**
 * runner/queue-run.ts — `sendmail -q` (one queue run) and `sendmail -q15m` / `-bd` (the daemon).
 *
 *   -q            every message is tried now (due or not: -q forces), then exit 0 — also when
 *                 some were deferred: a deferral is queue state, not an error of the run.
 *   -qI<s> -qR<s> -qS<s>   only ids / pending recipients / senders containing <s> (case-blind).
 *   -q<interval>, -bd      the daemon, in the foreground (systemd Type=simple; use & or nohup
 *                 elsewhere). It writes run/daemon.pid (read by submit/kick.ts runningDaemon(),
 *                 so submitters stop starting one-shot deliveries), watches ctl/ with fs.watch so
 *                 a committed message is picked up within milliseconds, sleeps until the next
 *                 retry is due, and rescans the whole queue every <interval> (default 1 min for
 *                 -bd) as the safety net behind the watch. Idle sessions are kept for a few
 *                 seconds so that a burst of messages reuses one login.
 *   SIGHUP: reread the configuration, then rescan the queue now (the daemon keeps running). A
 *                 changed configuration (the file, the files it names, /etc/mailname: see
 *                 config-tag.ts) is also noticed at every periodic scan and reloaded; a bad new
 *                 file is reported and the old settings stay. Messages held for a configuration
 *                 problem are then due at once (runner.ts isDue()).
 *   SIGTERM/SIGINT: take no new messages, give those in flight a few seconds, then abandon them
 *                 (recorded as deferred: nothing is lost; a kill during DATA may duplicate).
 *   -v            the SMTP transcript on stderr (credentials redacted); on a terminal also a
 *                 progress line (done/total, rate); nothing of that when stderr is not a tty.
 *
 * On the system spool (README "Privilege model"): a run started by root first becomes the spool's
 * owner (spool/privileges.ts); every run and every daemon scan first picks up incoming/
 * (spool/pickup.ts), and the daemon also watches incoming/ and serves run/query.sock
 * (queue/query.ts) so that users can list their own messages.
 *
 * Returns the exit status (0; 78 when messages wait and no relay is configured; 75 when a daemon
 * already runs). Next: runner.ts (the engine).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Io } from '../main.js';
import type { Mode, QueueRunFilter } from '../cli/flags.js';
import type { Config } from '../config/config.js';
import { EX_CONFIG, EX_OK, EX_TEMPFAIL, OutboxError } from '../sysexits.js';
import { type ControlRecord, isQueueId, parseControl, pendingRecipients } from '../spool/format.js';
import { type SpoolPaths, ensureSpool, listIds, sweepOrphans } from '../spool/spool.js';
import { runningDaemon } from '../submit/kick.js';
import { openLog, type Log } from '../log/log.js';
import { Engine } from './runner.js';
import { relaysFor } from './routing.js';
import { pickupIncoming } from '../spool/pickup.js';
import { INCOMING } from '../spool/drop.js';
import { dropToSpoolOwner } from '../spool/privileges.js';
import { startQueryServer, type QueryServer } from '../queue/query.js';
import { loadConfig } from '../config/config.js';
import { configTag } from './config-tag.js';

export type QueueRunMode = Extract<Mode, { kind: 'queue-run' }>;

/** Does a message match the -qI/-qR/-qS filters (all given kinds must match)? Pure. */
export function matchesFilter(rec: ControlRecord, f: QueueRunFilter): boolean {
  if (f.ids.length > 0 && !f.ids.some((s) => rec.id.toLowerCase().includes(s.toLowerCase()))) return false;
  if (f.recipients.length > 0) {
    const rcpts = pendingRecipients(rec).map((r) => r.address.toLowerCase());
    if (!f.recipients.some((s) => rcpts.some((a) => a.includes(s.toLowerCase())))) return false;
  }
  if (f.senders.length > 0 && !f.senders.some((s) => rec.sender.toLowerCase().includes(s.toLowerCase()))) return false;
  return true;
}

function readRecord(p: SpoolPaths, id: string): ControlRecord | null {
  try {
    return parseControl(fs.readFileSync(path.join(p.ctl, id), 'utf8'));
  } catch {
    return null;
  }
}

export function defaultSlots(config: Config): number {
  const s = config.deliverySettings?.maxParallel;
  // Postfix's relay client uses up to 20 sessions; a relay that refuses extra connections
  // lowers this at run time (runner.ts cap()), and max_connections caps a relay for good.
  return s && s > 0 ? s : 16;
}

/** A progress line on a terminal, at most twice a second. */
function progressPrinter(io: Io, total: () => number, engine: Engine): { tick(): void; end(): void } {
  const tty = Boolean((io.stderr as { isTTY?: boolean }).isTTY);
  const t0 = Date.now();
  let last = 0;
  const print = (final: boolean) => {
    const done = engine.stats.done;
    const secs = (Date.now() - t0) / 1000;
    const rate = secs > 0 ? Math.round(done / secs) : 0;
    io.stderr.write(`\rqueue run: ${done}/${total()} messages, ${engine.stats.sent} sent, ${engine.stats.deferred} deferred, ${engine.stats.failed} bounced, ${rate} msg/s${final ? '\n' : ''}`);
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

/** Call `handler` on SIGTERM, SIGINT and SIGHUP; returns the function that stops that. */
export function onSignals(handler: (sig: NodeJS.Signals) => void): () => void {
  const h = (sig: NodeJS.Signals) => handler(sig);
  process.on('SIGTERM', h);
  process.on('SIGINT', h);
  process.on('SIGHUP', h);
  return () => {
    process.off('SIGTERM', h);
    process.off('SIGINT', h);
    process.off('SIGHUP', h);
  };
}

export interface EngineSetup {
  engine: Engine;
  log: Log;
  paths: SpoolPaths;
  config: Config;
}

/** Build an engine for a run (shared with deliver-command.ts). */
export function setupEngine(config0: Config, io: Io, opts: { verbose: boolean; idleMs: number; relayDownMs: number; env?: NodeJS.ProcessEnv; slots?: number }): EngineSetup {
  const env = opts.env ?? process.env;
  // Root on the system spool becomes its owner (`outbox`) before touching anything in it.
  dropToSpoolOwner(config0);
  const config = relaysFor(config0, env);
  const paths = ensureSpool(config.spool);
  const log = openLog({ env, verbose: opts.verbose, stderr: io.stderr });
  const engine = new Engine({
    config,
    paths,
    log,
    env,
    slots: opts.slots ?? defaultSlots(config),
    idleMs: opts.idleMs,
    relayDownMs: opts.relayDownMs,
    ...(opts.verbose ? { transcript: (l: string) => io.stderr.write(`${l}\n`) } : {}),
  });
  return { engine, log, paths, config };
}

export async function runQueue(mode: QueueRunMode, config: Config, io: Io): Promise<number> {
  return mode.daemon ? runDaemon(mode, config, io) : runOnce(mode, config, io);
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
    // What other users dropped into incoming/ joins the queue first (src/spool/pickup.ts).
    await pickupIncoming(paths, config, log);
    // Without filters every id goes to the engine, which reads each record under its lock
    // anyway (and skips held or finished ones): one read per message instead of two.
    const f = mode.filter;
    const filtered = f.ids.length + f.recipients.length + f.senders.length > 0;
    const ids: string[] = [];
    for (const id of await listIds(paths)) {
      if (filtered) {
        const rec = readRecord(paths, id);
        if (!rec || rec.hold || pendingRecipients(rec).length === 0 || !matchesFilter(rec, f)) continue;
      }
      ids.push(id);
    }
    let total = ids.length;
    if (total > 0 && !config.defaultRelay && (config.routes ?? []).length === 0) {
      log.line(null, `${total} message(s) queued but no relay is configured`, 'error');
      throw new OutboxError(EX_CONFIG, 'no relay configured: set OUTBOX_RELAY=smtp+starttls://user@host:587 (and OUTBOX_RELAY_PASSWORD_FILE), or add a [relay.NAME] table to the configuration file');
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

/** Is `pid` running this same program (and not an unrelated process that got a stale pid)? */
function isOurProgram(pid: number): boolean {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`) === fs.realpathSync(process.execPath);
  } catch {
    // No /proc, or another user's process: assume it is a daemon (the safe side).
    return true;
  }
}

/** Write run/daemon.pid unless another live daemon owns it. */
function claimPidFile(config: Config, paths: SpoolPaths): void {
  const other = runningDaemon(config);
  // A pid file left by a crash or a reboot may name an unrelated process now: not a daemon.
  if (other !== null && other !== process.pid && (other < 0 || isOurProgram(other))) {
    throw new OutboxError(EX_TEMPFAIL, `a queue daemon is already running${other > 0 ? ` (pid ${other})` : ''}`);
  }
  const file = path.join(paths.run, 'daemon.pid');
  const tmp = `${file}.${process.pid}`;
  fs.writeFileSync(tmp, `${process.pid}\n`, { mode: 0o644 });
  fs.renameSync(tmp, file);
}

function releasePidFile(paths: SpoolPaths): void {
  const file = path.join(paths.run, 'daemon.pid');
  try {
    if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.unlinkSync(file);
  } catch {
    // gone already
  }
}

/** The daemon's scan interval: -q<interval>, else [delivery] scan_interval, else 1 minute. */
export function scanInterval(mode: Pick<QueueRunMode, 'intervalMs'>, config: Pick<Config, 'deliverySettings'>): number {
  return mode.intervalMs ?? config.deliverySettings?.scanIntervalMs ?? 60_000;
}

async function runDaemon(mode: QueueRunMode, config0: Config, io: Io): Promise<number> {
  const idleMs = 10_000;
  const env = process.env;
  const { engine, log, paths } = setupEngine(config0, io, { verbose: mode.verbose, idleMs, relayDownMs: 30_000 });
  let config = engine.opts.config;
  let scanMs = scanInterval(mode, config);
  claimPidFile(config, paths);
  log.line(null, `daemon started: spool ${config.spool}, queue scan every ${Math.round(scanMs / 1000)} s, ${defaultSlots(config)} parallel connections`);
  let stopping = false;
  let wakeTimer: NodeJS.Timeout | undefined;
  let wakeAt = Infinity;
  let scanning = false;
  let rescan = false;

  const schedule = (at: number) => {
    if (stopping || at >= wakeAt) return;
    wakeAt = at;
    clearTimeout(wakeTimer);
    wakeTimer = setTimeout(() => {
      wakeAt = Infinity;
      void scan();
    }, Math.max(0, Math.min(at - Date.now(), 2 ** 31 - 1)));
  };

  /** Look at one message: enqueue it when due, else remember when it will be. */
  const consider = (id: string) => {
    if (stopping || engine.isBusyWith(id)) return;
    const rec = readRecord(paths, id);
    if (!rec || rec.hold || pendingRecipients(rec).length === 0 || !matchesFilter(rec, mode.filter)) return;
    if (engine.isDue(rec, Date.now())) engine.enqueue(id, false);
    else schedule(rec.nextAttempt);
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
      if (next.spool !== config.spool) log.line(null, `reload: the spool cannot change in a running daemon (${config.spool} kept; restart it to use ${next.spool})`, 'warning');
      config = { ...next, spool: config.spool, system: config.system };
      engine.reconfigure(config);
      loadedTag = configTag(config, env);
      log.line(null, `${why}: configuration reloaded${config.file ? ` from ${config.file}` : ''}`);
      const ms = scanInterval(mode, config);
      if (ms !== scanMs) {
        scanMs = ms;
        clearInterval(scanTimer);
        scanTimer = setInterval(() => void scan(), scanMs);
        log.line(null, `queue scan every ${Math.round(scanMs / 1000)} s`);
      }
    } catch (e) {
      loadedTag = now;
      log.line(null, `${why}: configuration not reloaded, the previous settings stay: ${(e as Error).message}`, 'error');
    }
  };

  const scan = async () => {
    if (stopping) return;
    if (scanning) {
      rescan = true;
      return;
    }
    scanning = true;
    try {
      reload('configuration changed', false);
      do {
        rescan = false;
        await sweepOrphans(paths, config.orphanGraceSeconds * 1000);
        await pickupIncoming(paths, config, log);
        for (const id of await listIds(paths)) consider(id);
      } while (rescan && !stopping);
    } catch (e) {
      log.line(null, `queue scan failed: ${(e as Error).message}`, 'error');
    } finally {
      scanning = false;
    }
  };

  engine.onResult = (r) => {
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
  let picking = false;
  let pickAgain = false;
  const pickupSoon = async () => {
    if (stopping) return;
    if (picking) {
      pickAgain = true;
      return;
    }
    picking = true;
    try {
      do {
        pickAgain = false;
        await pickupIncoming(paths, config, log);
      } while (pickAgain && !stopping);
    } catch (e) {
      log.line(null, `pickup failed: ${(e as Error).message}`, 'error');
    } finally {
      picking = false;
    }
  };
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
    query = await startQueryServer(paths, config, log);
  } catch (e) {
    log.line(null, `cannot serve queue queries on ${path.join(paths.run, 'query.sock')} (${(e as Error).message}); mailq works for root and the spool owner only`, 'warning');
  }
  let scanTimer = setInterval(() => void scan(), scanMs);
  await scan();

  // SIGHUP (systemd's reload): reread the configuration, rescan the queue now; SIGTERM/SIGINT: stop.
  const onHup = () => {
    log.line(null, 'SIGHUP: rereading the configuration and rescanning the queue');
    reload('SIGHUP', true);
    void scan();
  };
  await new Promise<void>((resolve) => {
    const off = onSignals((sig) => {
      if (sig === 'SIGHUP') return onHup();
      if (stopping) return;
      stopping = true;
      off();
      log.line(null, `daemon stopping (${sig})`);
      resolve();
    });
  });
  clearInterval(scanTimer);
  clearTimeout(wakeTimer);
  watcher?.close();
  incomingWatcher?.close();
  await query?.close();
  await engine.stop(5000);
  releasePidFile(paths);
  log.line(null, 'daemon stopped');
  await log.close();
  return EX_OK;
}
