/**
 * runner/setup.ts — what every kind of queue run shares: the engine built for a run (as the
 * spool owner, with the relays of the file and the environment), the signal hook, the default
 * number of connections, and the -qI/-qR/-qS filter. Used by queue-run.ts (-q), daemon.ts (the
 * daemon and the lingering runner) and commands/deliver.ts (`outbox deliver`).
 */
import type { Io } from '../io.js';
import type { Mode } from '../cli/flags.js';
import type { Config } from '../config/config.js';
import { type ControlRecord, pendingRecipients } from '../spool/format.js';
import { type QueueFilter, matchesFilter } from '../queue/filter.js';

/** The -qI/-qR/-qS filter is queue/filter.ts's, shared with `outbox queue`. */
export { matchesFilter };
import { type SpoolPaths, ensureSpool, readControlSync } from '../spool/spool.js';
import { openLog, type Log } from '../log/log.js';
import { Engine } from './engine.js';
import { relaysFor } from '../relay/env.js';
import { dropToSpoolOwner, repairOwnership } from '../spool/privileges.js';

export type QueueRunMode = Extract<Mode, { kind: 'queue-run' }>;

/**
 * A message waiting for delivery: its control record when it is readable, not on hold, has
 * recipients still pending and matches the -qI/-qR/-qS filter (if given); else null.
 */
export function waitingRecord(p: SpoolPaths, id: string, filter?: QueueFilter): ControlRecord | null {
  let rec: ControlRecord;
  try {
    rec = readControlSync(p, id);
  } catch {
    return null;
  }
  if (rec.hold || pendingRecipients(rec).length === 0 || (filter && !matchesFilter(rec, filter))) return null;
  return rec;
}

export function defaultSlots(config: Config): number {
  const s = config.deliverySettings?.maxParallel;
  // Postfix's relay client uses up to 20 sessions; a relay that refuses extra connections
  // lowers this at run time (relay-sessions.ts cap()), and max_connections caps a relay for good.
  return s && s > 0 ? s : 16;
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

/** Build an engine for a run (shared with commands/deliver.ts). */
export function setupEngine(
  config0: Config,
  io: Io,
  opts: { verbose: boolean; idleMs: number; relayDownMs: number; env?: NodeJS.ProcessEnv; slots?: number },
): EngineSetup {
  const env = opts.env ?? process.env;
  // Root on the system spool becomes its owner (`outbox`) before touching anything in it, after
  // giving back what root left in the queue (the runner could not read it).
  const repaired = repairOwnership(config0);
  dropToSpoolOwner(config0);
  const config = relaysFor(config0, env);
  const paths = ensureSpool(config.spool);
  const log = openLog({ env, verbose: opts.verbose, stderr: io.stderr });
  for (const f of repaired) log.line(null, `${f} belonged to another user (the runner could not read it): given back to the spool owner`, 'warning');
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
