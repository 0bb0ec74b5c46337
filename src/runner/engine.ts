/**
 * runner/engine.ts — the delivery engine shared by `sendmail -q` (queue-run.ts), the daemon and
 * the lingering runner (daemon.ts) and `outbox deliver` (commands/deliver.ts). It only wires
 * the parts together, as Postfix's queue manager does:
 *   pool.ts            the slots: how many messages are in flight, the ids waiting for a slot;
 *   relay-sessions.ts  prepared relays and open sessions, slow start, the learned connection
 *                      cap, relays marked down (fallbacks.ts: the fallback relays);
 *   attempt.ts         one attempt of one message: lock and read → plan → send → settle → record;
 *   transaction.ts     one relay group over one session.
 * What the engine itself keeps: the configuration (a reload replaces it), the one notice per
 * configuration problem, the run's counts, and the stop (take no new messages, give those in
 * flight a grace period, then abandon them: they stay queued, recorded as deferred).
 *
 * Never throws for a message: every failure ends as a recipient outcome or a log line.
 */
import type { Config } from '../config/config.js';
import type { ControlRecord } from '../spool/format.js';
import type { SpoolPaths } from '../spool/spool.js';
import type { Log } from '../log/log.js';
import type { Transcript } from '../relay/connect.js';
import type { Outcome } from './classify.js';
import { configTag } from './config-tag.js';
import { type RetryPolicy, retryPolicy } from './schedule.js';
import { Pool, type Slot } from './pool.js';
import { RelaySessions } from './relay-sessions.js';
import { type AttemptEnv, type MessageResult, attempt } from './attempt.js';

export type { MessageResult } from './attempt.js';

export interface EngineOptions {
  /** Config with the environment's relay merged in (relay/env.ts relaysFor). */
  config: Config;
  paths: SpoolPaths;
  log: Log;
  env: NodeJS.ProcessEnv;
  /** Parallel slots (connections per relay at most this many). */
  slots: number;
  transcript?: Transcript;
  /** Keep idle sessions this long (daemon); 0: close when the run ends. */
  idleMs: number;
  /** How long a relay that failed to open stays "down" for this engine. */
  relayDownMs: number;
  now?: () => number;
  random?: () => number;
}

/** How often the daemon repeats the one notice about the same configuration problem. */
const NOTICE_REPEAT_MS = 3600_000;

export class Engine implements AttemptEnv {
  readonly opts: EngineOptions;
  readonly policy: RetryPolicy;
  private readonly pool: Pool<MessageResult>;
  readonly sessions: RelaySessions;
  /** Waits for a rate slot (send.ts), cut short by stop(). */
  readonly sleepers = new Set<() => void>();
  private stopRequested = false;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Configuration problems announced (cause + fix -> when), so that each is logged once. */
  private announced = new Map<string, number>();
  private tag: string | undefined;
  /** Called after each processed message (progress, -odi bookkeeping, bounce pickup). */
  onResult: ((r: MessageResult) => void) | undefined;
  stats = { done: 0, sent: 0, deferred: 0, failed: 0 };

  constructor(opts: EngineOptions) {
    this.opts = opts;
    this.policy = retryPolicy(opts.config.deliverySettings);
    this.pool = new Pool(
      opts.slots,
      (id, slot, force) => this.attempt(id, slot, force),
      (r) => this.finished(r),
    );
    this.sessions = new RelaySessions(opts, this.pool, () => this.stopRequested);
    if (opts.idleMs > 0) {
      this.idleTimer = setInterval(() => this.closeIdle(), Math.min(1000, opts.idleMs));
      this.idleTimer.unref();
    }
  }

  now(): number {
    return (this.opts.now ?? Date.now)();
  }

  get stopping(): boolean {
    return this.stopRequested;
  }

  /** The fingerprint of the configuration this engine runs with (config-tag.ts). */
  get configTag(): string {
    return (this.tag ??= configTag(this.opts.config, this.opts.env));
  }

  /**
   * Run with a new configuration from now on (the daemon's reload): relays are prepared again,
   * "down" marks and learned limits are forgotten; sessions in use finish, idle ones close.
   */
  reconfigure(config: Config): void {
    this.opts.config = config;
    this.tag = undefined;
    this.announced.clear();
    this.sessions.reconfigure();
  }

  /** Is a message due: its next attempt has come, or it waits for a configuration that has changed since. */
  isDue(rec: Pick<ControlRecord, 'nextAttempt' | 'configTag'>, now: number): boolean {
    return rec.nextAttempt <= now || (rec.configTag !== undefined && rec.configTag !== this.configTag);
  }

  /** Log a configuration problem loudly, once per cause and fix (again after NOTICE_REPEAT_MS). */
  announce(o: Outcome): void {
    const key = `${o.cause ?? o.reason}\0${o.fix}`;
    const last = this.announced.get(key);
    if (last !== undefined && this.now() - last < NOTICE_REPEAT_MS) return;
    this.announced.set(key, this.now());
    this.opts.log.line(
      null,
      `configuration problem, the message stays queued and is not bounced: ${o.cause ?? o.reason}: ${o.fix} (one notice for all the messages it keeps; after the fix the next queue run delivers them)`,
      'error',
    );
  }

  /** Queue a message id (once); `force` ignores nextAttempt. */
  enqueue(id: string, force: boolean): void {
    this.pool.enqueue(id, force);
  }

  isBusyWith(id: string): boolean {
    return this.pool.isBusyWith(id);
  }

  get pending(): number {
    return this.pool.pending;
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    return this.pool.idle();
  }

  private attempt(id: string, slot: Slot, force: boolean): Promise<MessageResult> {
    return attempt(this, slot, id, force).catch((e) => {
      this.opts.log.line(id, `error: ${(e as Error).message}`, 'error');
      return { id, state: 'error', outcomes: new Map(), remaining: 1, bounceIds: [] } as MessageResult;
    });
  }

  /** A slot is free again: count the attempt, wake slots waiting for a session, report. */
  private finished(r: MessageResult): void {
    if (r.state === 'done') {
      for (const o of r.outcomes.values()) this.stats[o.status]++;
      this.stats.done++;
    }
    this.sessions.wakeWaiters();
    try {
      this.onResult?.(r);
    } catch {
      // a progress printer must not stop delivery
    }
  }

  /** Close sessions idle for longer than idleMs. */
  closeIdle(): void {
    this.sessions.closeIdle(this.now() - this.opts.idleMs);
  }

  /**
   * Stop: take no new messages; wait up to graceMs for those in flight, then abandon them by
   * destroying their sessions (their outcome is recorded as deferred). Closes every session.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopRequested = true;
    for (const wake of [...this.sleepers]) wake();
    this.pool.drain();
    if (this.pool.busy) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.idle(), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      if (this.pool.busy) {
        this.sessions.destroyAll();
        let t2: NodeJS.Timeout | undefined;
        await Promise.race([this.idle(), new Promise<void>((r) => (t2 = setTimeout(r, 3000)))]);
        clearTimeout(t2);
      }
    }
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.sessions.closeAll();
  }
}
