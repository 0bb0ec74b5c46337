/**
 * runner/runner.ts — the delivery engine shared by `sendmail -q`, the daemon and `outbox deliver`:
 * a bounded pool of slots, each with its own reusable SMTP session per relay; messages are taken
 * one at a time, locked, delivered, recorded, bounced and removed.
 *
 * Per message (processMessage), in this order, each step for a reason:
 *   1. tryLock (spool/lock.ts), the only lock: two runners never deliver the same message.
 *   2. Re-read the control record under the lock: another runner may have delivered it already.
 *   3. Plan the delivery (plan/rewrite.ts: route each pending recipient, rewrite the sender
 *      per group); deliver each group over the slot's session to its relay (opened on first
 *      use: one login per connection, not per message), or to the relay's fallbacks.
 *   4. Classify each recipient's result (classify.ts). A configuration problem of this host
 *      (login, TLS, a refused sender, ...) holds the message: one loud notice per cause and fix
 *      (announce()), never a bounce, the held time kept out of the queue lifetime (configSince,
 *      configMs: schedule.ts), and the configuration's fingerprint recorded (configTag), so that
 *      the message is due at once when the configuration changes (isDue()).
 *   5. Commit bounces for permanent failures (bounce.ts) BEFORE the original's state changes, so
 *      a crash in between can duplicate a bounce but never lose one. A bounce that fails goes to
 *      the postmaster once (the same record, one more recipient), else it is held.
 *   6. Record the outcome durably before the next message: if nothing is left, remove the
 *      message (the unlink of ctl/ID is the commit); else rewrite ctl/ID with per-recipient
 *      status, attempts, nextAttempt (schedule.ts) and lastError. Accepted recipients are thus
 *      never sent again, and a runner killed at any point (even mid-DATA) loses nothing: the
 *      message is still pending and is retried (at most one duplicate after a kill during DATA).
 *   7. Release the lock.
 * A relay whose session could not be opened (down, TLS, AUTH) is marked down for the rest of
 * the run (for `relayDownMs` in the daemon): its other messages are deferred with the same
 * reason without hammering it. Until a first session to a relay has opened, only one
 * connection to it is attempted at a time, so a wrong password costs one failed login per
 * run, and a relay that never greets costs one timeout, whatever the queue size.
 *
 * Never throws for a message: every failure ends as a recipient outcome or a log line. Next:
 * queue-run.ts (modes) and commands/deliver.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type { Config } from '../config/config.js';
import type { RelaySettings } from '../config/types.js';
import { type ControlRecord, type RecipientState, pendingRecipients, withHistory } from '../spool/format.js';
import { type SpoolPaths, messagePath, readControlSync, removeMessage, writeControl } from '../spool/spool.js';
import { tryLock } from '../spool/lock.js';
import type { Log } from '../log/log.js';
import { formatDelivery, formatPickup, formatReceived } from '../log/log.js';
import { weakerFallback } from '../relay/fallback.js';
import { type Outcome, type SmtpFailure, classify, sentOutcome } from './classify.js';
import { configTag } from './config-tag.js';
import { withFix } from '../queue/problems.js';
import { explainRoute } from '../plan/routing.js';
import { fromAddressOf, planDelivery, rewriteSender, senderEntryFor, type DeliveryGroup } from '../plan/rewrite.js';
import { groupMessage, headerSectionOf, readStoredHeader, type StoredHeader } from '../plan/rewrite-stream.js';
import { type RetryPolicy, delayWarningDue, lifetimeStart, nextAttempt, retryPolicy } from './schedule.js';
import { type PreparedRelay, type SendInfo, type SmtpError, Session, configFailure, prepareRelay, type Transcript } from '../relay/session.js';
import { commitReport, postmasterAddress, wantsNotice, type ReportRecipient } from './bounce.js';
import { asciiEnvelope, needsSmtpUtf8 } from './smtputf8.js';
import { relayLimits } from '../config/limits.js';
import { type Grant, clearPause, pauseRelay, pausedUntil, reserve, unreserve } from './limits.js';

/** Messages up to this size are read into memory for sending; larger ones are streamed. */
const SMALL_MESSAGE = 256 * 1024;

/** One delivery group's message: its envelope sender and a fresh stream of its bytes per transaction. */
interface GroupMessage {
  sender: string;
  open(): { stream: Readable; size: number };
}

/** The bytes of a group: the stored message, or its rewritten header section and the stored body. */
function groupMessageFor(file: string, whole: Buffer | undefined, stored: StoredHeader, g: DeliveryGroup, storedSize: number): GroupMessage {
  return {
    sender: g.sender,
    open() {
      if (whole) {
        const bytes = g.header === stored.text ? whole : Buffer.concat([Buffer.from(g.header + '\n', 'latin1'), whole.subarray(stored.bodyOffset)]);
        return { stream: Readable.from([bytes], { objectMode: false }), size: bytes.length };
      }
      return groupMessage(file, stored, g, storedSize);
    },
  };
}

/** Connections to a relay at the start of a run (slow start, see Engine.cap). */
const INITIAL_CONCURRENCY = 2;

export interface EngineOptions {
  /** Config with the environment's relay merged in (routing.relaysFor). */
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

export type MessageState = 'done' | 'gone' | 'locked' | 'held' | 'not-due' | 'error';

/** How often the daemon repeats the one notice about the same configuration problem. */
const NOTICE_REPEAT_MS = 3600_000;

/** Why recipients kept by a `relay = "hold"` route stay: "held by route N (file:line)". */
export function routeHoldReason(
  config: Pick<Config, 'routes' | 'defaultRelay' | 'relays' | 'file'>,
  sender: string,
  address: string,
  from: string | undefined,
): string {
  const e = explainRoute(config, sender, address, from);
  const where = e.rule?.line ? ` (${config.file ?? 'configuration'}:${e.rule.line})` : '';
  return `held by route ${e.ruleIndex ?? '?'}${where}: relay = "hold"`;
}

export interface MessageResult {
  id: string;
  state: MessageState;
  /** Outcomes of this attempt per recipient address. */
  outcomes: Map<string, Outcome>;
  /** Recipients still pending after this attempt (deferred or on hold). */
  remaining: number;
  /** Why the message was not attempted (state 'held'): for `outbox deliver -v`. */
  heldReason?: string;
  bounceIds: string[];
}

interface Slot {
  sessions: Map<string, Session>;
}

export class Engine {
  readonly opts: EngineOptions;
  readonly policy: RetryPolicy;
  private prepared = new Map<string, Promise<PreparedRelay | { failure: Error }>>();
  private down = new Map<string, { until: number; failure: SmtpError; peer: string }>();
  private slots: Slot[] = [];
  private free: Slot[] = [];
  private queue: { id: string; force: boolean }[] = [];
  private queued = new Set<string>();
  readonly inFlight = new Set<string>();
  private idleWaiters: (() => void)[] = [];
  private stopping = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private opening = new Set<() => void>();
  private connecting = new Map<string, number>();
  private concurrency = new Map<string, number>();
  private sessionWaiters: (() => void)[] = [];
  private learnedCap = new Map<string, number>();
  /** Waits for a rate slot (limitGate), cut short by stop(). */
  private sleepers = new Set<() => void>();
  /** Configuration problems announced (cause + fix -> when), so that each is logged once. */
  private announced = new Map<string, number>();
  private tag: string | undefined;
  /** Relays a session has opened to (since they were last down): more than one may open at once. */
  private proven = new Set<string>();
  /** Called after each processed message (progress, -odi bookkeeping, bounce pickup). */
  onResult: ((r: MessageResult) => void) | undefined;
  stats = { done: 0, sent: 0, deferred: 0, failed: 0 };

  constructor(opts: EngineOptions) {
    this.opts = opts;
    this.policy = retryPolicy(opts.config.deliverySettings);
    for (let i = 0; i < Math.max(1, opts.slots); i++) {
      const s = { sessions: new Map<string, Session>() };
      this.slots.push(s);
      this.free.push(s);
    }
    if (opts.idleMs > 0) {
      this.idleTimer = setInterval(() => this.closeIdle(), Math.min(1000, opts.idleMs));
      this.idleTimer.unref();
    }
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
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
    this.prepared.clear();
    this.down.clear();
    this.learnedCap.clear();
    this.announced.clear();
    for (const slot of this.free) {
      for (const s of slot.sessions.values()) s.close();
      slot.sessions.clear();
    }
  }

  /** Is a message due: its next attempt has come, or it waits for a configuration that has changed since. */
  isDue(rec: Pick<ControlRecord, 'nextAttempt' | 'configTag'>, now: number): boolean {
    return rec.nextAttempt <= now || (rec.configTag !== undefined && rec.configTag !== this.configTag);
  }

  /** Log a configuration problem loudly, once per cause and fix (again after NOTICE_REPEAT_MS). */
  private announce(o: Outcome): void {
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
    if (this.stopping || this.queued.has(id) || this.inFlight.has(id)) return;
    this.queued.add(id);
    this.queue.push({ id, force });
    this.pump();
  }

  isBusyWith(id: string): boolean {
    return this.queued.has(id) || this.inFlight.has(id);
  }

  get pending(): number {
    return this.queue.length + this.inFlight.size;
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    while (!this.stopping && this.queue.length > 0 && this.free.length > 0) {
      const job = this.queue.shift()!;
      this.queued.delete(job.id);
      const slot = this.free.pop()!;
      this.inFlight.add(job.id);
      this.processMessage(job.id, slot, job.force)
        .catch((e) => {
          this.opts.log.line(job.id, `error: ${(e as Error).message}`, 'error');
          return { id: job.id, state: 'error', outcomes: new Map(), remaining: 1, bounceIds: [] } as MessageResult;
        })
        .then((r) => {
          this.inFlight.delete(job.id);
          this.free.push(slot);
          this.wakeSessionWaiters();
          try {
            this.onResult?.(r);
          } catch {
            // a progress printer must not stop delivery
          }
          this.pump();
          if (this.queue.length === 0 && this.inFlight.size === 0) {
            const w = this.idleWaiters;
            this.idleWaiters = [];
            for (const f of w) f();
          }
        });
    }
  }

  /** Close sessions idle for longer than idleMs. */
  closeIdle(): void {
    const limit = this.now() - this.opts.idleMs;
    for (const slot of this.free) {
      for (const [name, s] of slot.sessions) {
        if (!s.alive || s.lastUsed < limit) {
          s.close();
          slot.sessions.delete(name);
        }
      }
    }
  }

  /**
   * Stop: take no new messages; wait up to graceMs for those in flight, then abandon them by
   * destroying their sessions (their outcome is recorded as deferred). Closes every session.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    for (const wake of [...this.sleepers]) wake();
    for (const j of this.queue) this.queued.delete(j.id);
    this.queue = [];
    if (this.inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.idle(),
        new Promise<void>((r) => {
          timer = setTimeout(r, graceMs);
        }),
      ]);
      clearTimeout(timer);
      if (this.inFlight.size > 0) {
        for (const abort of [...this.opening]) abort();
        for (const slot of this.slots) for (const s of slot.sessions.values()) s.destroy();
        let t2: NodeJS.Timeout | undefined;
        await Promise.race([this.idle(), new Promise<void>((r) => (t2 = setTimeout(r, 3000)))]);
        clearTimeout(t2);
      }
    }
    if (this.idleTimer) clearInterval(this.idleTimer);
    for (const slot of this.slots) {
      for (const s of slot.sessions.values()) s.close();
      slot.sessions.clear();
    }
  }

  get stopped(): boolean {
    return this.stopping;
  }

  private relay(name: string): Promise<PreparedRelay | { failure: Error }> {
    let p = this.prepared.get(name);
    if (!p) {
      const settings: RelaySettings | undefined = this.opts.config.relays?.[name];
      p = (async () => {
        try {
          if (!settings) {
            throw configFailure(
              name === 'env'
                ? 'no relay configured: set OUTBOX_RELAY=smtp+starttls://user@host:587 (and OUTBOX_RELAY_PASSWORD_FILE), or add a [relay.NAME] table to the configuration file'
                : `no relay named "${name}" (routes and fallbacks must name a [relay.NAME] table)`,
            );
          }
          return await prepareRelay(settings, this.opts.env, this.opts.config.file);
        } catch (e) {
          return { failure: e as Error };
        }
      })();
      this.prepared.set(name, p);
    }
    return p;
  }

  /** Open (live) sessions to relay `name`, over all slots. */
  private openSessions(name: string): number {
    let n = 0;
    for (const slot of this.slots) if (slot.sessions.get(name)?.alive) n++;
    return n;
  }

  /** Live and opening sessions to relay `name`, over all slots. */
  private relayCount(name: string): number {
    let n = this.connecting.get(name) ?? 0;
    for (const slot of this.slots) if (slot.sessions.get(name)?.alive) n++;
    return n;
  }

  /**
   * Connections allowed to relay `name`: its max_connections (default: the number of slots),
   * lowered at run time when the relay refuses an extra connection while others are open
   * (Office 365 and friends limit concurrent sessions per account).
   */
  private cap(name: string): number {
    const configured = Math.max(1, Math.min(this.slots.length, this.opts.config.relays?.[name]?.maxConnections ?? this.slots.length));
    const slowStart = Math.floor(this.concurrency.get(name) ?? INITIAL_CONCURRENCY);
    return Math.min(configured, this.learnedCap.get(name) ?? configured, slowStart);
  }

  /**
   * Slow start (as Postfix's queue manager): a run begins with INITIAL_CONCURRENCY connections to
   * a relay and adds one after as many successful deliveries as it has connections, so a
   * handful of messages never opens a connection each, and a big flush reaches the cap soon.
   */
  private delivered(name: string): void {
    const c = this.concurrency.get(name) ?? INITIAL_CONCURRENCY;
    this.concurrency.set(name, c + 1 / Math.floor(c));
  }

  private wakeSessionWaiters(): void {
    const w = this.sessionWaiters;
    this.sessionWaiters = [];
    for (const f of w) f();
  }

  /** The slot's session to `name`, opened if needed; or the failure that prevented it. */
  private async session(slot: Slot, name: string, retried = false): Promise<{ session: Session; setupMs: number } | { failure: SmtpError; peer: string }> {
    const existing = slot.sessions.get(name);
    if (existing?.alive) return { session: existing, setupMs: 0 };
    if (existing) {
      existing.close();
      slot.sessions.delete(name);
    }
    const relay = await this.relay(name);
    if ('failure' in relay) return { failure: relay.failure as SmtpError, peer: name };
    // At the relay's connection limit: take over an idle session of a free slot, or wait. Until
    // a session to the relay has opened in this engine, one connection at a time: a wrong
    // password costs one failed login per run, not one per slot. The down check is made after
    // every wait, so that slots that waited do not hammer a relay that just failed.
    for (;;) {
      const down = this.down.get(name);
      if (down && down.until > this.now()) return { failure: down.failure, peer: down.peer };
      if (this.relayCount(name) < (this.proven.has(name) ? this.cap(name) : 1)) break;
      for (const other of this.free) {
        const idle = other.sessions.get(name);
        if (idle?.alive) {
          other.sessions.delete(name);
          slot.sessions.set(name, idle);
          return { session: idle, setupMs: 0 };
        }
      }
      if (this.stopping)
        return { failure: Object.assign(new Error('delivery interrupted (terminated)'), { code: 'ECONNECTION' }) as SmtpError, peer: relay.label };
      // Woken when a slot (and its session) becomes free; the timeout is only a safety net.
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.sessionWaiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    const t0 = this.now();
    this.connecting.set(name, (this.connecting.get(name) ?? 0) + 1);
    let counted = true;
    const uncount = () => {
      if (!counted) return;
      counted = false;
      const c = (this.connecting.get(name) ?? 1) - 1;
      if (c <= 0) this.connecting.delete(name);
      else this.connecting.set(name, c);
    };
    try {
      const s = await Session.open(relay, {
        ehloName: this.opts.config.hostname,
        abortables: this.opening,
        ...(this.opts.transcript ? { transcript: this.opts.transcript } : {}),
      });
      slot.sessions.set(name, s);
      this.down.delete(name);
      this.proven.add(name);
      return { session: s, setupMs: this.now() - t0 };
    } catch (e) {
      const err = e as SmtpError & { peer?: string };
      const peer = err.peer ?? relay.label;
      // Only sessions that are open prove that the relay is up: others still opening may be
      // failing for the same reason as this one.
      const live = this.openSessions(name);
      if (live > 0 && !retried && !this.stopping) {
        // The relay is up (other sessions work) but refuses one more: use fewer from now on.
        this.learnedCap.set(name, live);
        this.opts.log.line(
          null,
          `relay ${name} refused connection ${live + 1} (${(err.response ?? err.message ?? '').trim()}); using at most ${live}`,
          'warning',
        );
        uncount();
        return this.session(slot, name, true);
      }
      if (!this.stopping) {
        this.down.set(name, { until: this.now() + this.opts.relayDownMs, failure: err, peer });
        this.proven.delete(name);
      }
      return { failure: err, peer };
    } finally {
      uncount();
      // Slots waiting for this relay: it is up (more may open) or down (they defer at once).
      this.wakeSessionWaiters();
    }
  }

  /**
   * A session to relay `first`, else to its fallbacks in order (relay.NAME.fallbacks) when the
   * failure is about reaching it (connection, TLS, timeout, 421), never after an AUTH or a
   * configuration problem, which another relay would not fix silently.
   */
  private async sessionWithFallbacks(slot: Slot, first: string): Promise<{ name: string; s: Awaited<ReturnType<Engine['session']>> }> {
    let s = await this.session(slot, first);
    if (!('failure' in s)) return { name: first, s };
    const tried = new Set([first]);
    const relays = this.opts.config.relays ?? {};
    // Relays that failed for TLS reasons: no fallback weaker than one of them (relay/fallback.ts).
    const tlsFailed: string[] = [];
    let current = first;
    for (const fb of relays[first]?.fallbacks ?? []) {
      const code = s.failure.code ?? '';
      if (code === 'EAUTH' || code === 'ECONFIG' || tried.has(fb)) break;
      tried.add(fb);
      if (classify(s.failure as SmtpFailure, s.peer).dsn === '4.7.5' && relays[current]) tlsFailed.push(current);
      const weaker = relays[fb] ? tlsFailed.map((n) => weakerFallback(relays[fb]!, relays[n]!)).find((w) => w) : undefined;
      if (weaker) {
        this.opts.log.line(null, `relay ${first} failed TLS (${classify(s.failure as SmtpFailure, s.peer).reason}); not used: ${weaker}`, 'warning');
        continue;
      }
      current = fb;
      const next = await this.session(slot, fb);
      if (!('failure' in next)) {
        this.opts.log.line(null, `relay ${first} failed (${classify(s.failure as SmtpFailure, s.peer).reason}); using fallback ${fb}`, 'warning');
        return { name: fb, s: next };
      }
      s = next;
    }
    return { name: first, s };
  }

  /**
   * The sending limits of relay `name` for one message of `rcpts` recipients (runner/limits.ts):
   * wait here for a near rate slot, or the time it is due (over a limit, or the relay paused).
   */
  private async limitGate(name: string, rcpts: number): Promise<Grant> {
    const limits = relayLimits(this.opts.config.relays?.[name]);
    const g = await reserve(this.opts.paths, name, limits, rcpts, this.now());
    const wait = 'at' in g ? g.at - this.now() : 0;
    if (wait > 0 && !this.stopping) {
      await new Promise<void>((r) => {
        const wake = () => {
          clearTimeout(t);
          this.sleepers.delete(wake);
          r();
        };
        const t = setTimeout(wake, wait);
        this.sleepers.add(wake);
      });
    }
    // Stopped while waiting: the slot has not come, so the message is not sent early.
    if ('at' in g && g.at > this.now() && this.stopping) {
      if (g.recorded) await unreserve(this.opts.paths, name, g.at, rcpts);
      return { until: g.at, reason: `rate limit: relay ${name} allows ${limits?.rate ?? '?'}; delivery interrupted (terminated) before its turn` };
    }
    return g;
  }

  /**
   * After a group's attempt: give back the daily count of a message not accepted; a quota
   * reply pauses the relay for every runner (one attempt, not one per queued message), and its
   * recipients wait for the end of the pause (`until`).
   */
  private async afterLimits(name: string, gate: Grant, rcpts: number, got: Map<string, Outcome>, until: Map<string, number>, id: string): Promise<void> {
    const outs = [...got.values()];
    if ('at' in gate && gate.recorded && !outs.some((o) => o.status === 'sent')) await unreserve(this.opts.paths, name, gate.at, rcpts);
    const quota = [...got].filter(([, o]) => o.slow === true && o.status === 'deferred');
    if (quota.length > 0) {
      const p = await pauseRelay(this.opts.paths, name, relayLimits(this.opts.config.relays?.[name]), quota[0]![1].reason, this.now());
      for (const [a] of quota) until.set(a, p.until);
      this.opts.log.line(id, p.reason, 'warning');
    } else if (outs.some((o) => o.status === 'sent')) await clearPause(this.opts.paths, name, this.now());
  }

  /** Deliver one relay group over a session; returns outcomes per address. */
  private async sendGroup(
    rec: ControlRecord,
    group: RecipientState[],
    session: Session,
    msg: GroupMessage,
    relay: string,
  ): Promise<{ out: Map<string, Outcome>; retry: boolean }> {
    const out = new Map<string, Outcome>();
    const ctx = { relay, sender: msg.sender };
    let retry = false;
    // DSN parameters are per envelope in nodemailer: recipients with different NOTIFY/ORCPT go
    // in separate transactions, only when the relay offers DSN (else one transaction for all).
    const batches = new Map<string, RecipientState[]>();
    for (const r of group) {
      const key = session.supportsDsn ? `${(r.notify ?? []).join(',')}|${r.orcpt ?? ''}` : '';
      const b = batches.get(key) ?? [];
      b.push(r);
      batches.set(key, b);
    }
    for (const batch of batches.values()) {
      const first = batch[0]!;
      const dsn = session.supportsDsn
        ? {
            ...(rec.ret ? { ret: rec.ret } : {}),
            ...(rec.envid ? { envid: rec.envid } : {}),
            ...(first.notify ? { notify: first.notify } : {}),
            ...(first.orcpt ? { orcpt: first.orcpt } : {}),
          }
        : undefined;
      // A relay without SMTPUTF8 gets A-label domains; a UTF-8 local part is refused here (5.6.7).
      let from = msg.sender;
      let to = batch.map((r) => r.address);
      const queuedAs = new Map<string, string>();
      if (!session.supportsSmtpUtf8 && (rec.smtputf8 || needsSmtpUtf8(from, to))) {
        const a = asciiEnvelope(from, to, session.peer);
        for (const [addr, o] of a.refused) out.set(addr, o);
        if (a.sender === undefined || a.to.length === 0) continue;
        from = a.sender;
        to = a.to.map(([wire]) => wire);
        for (const [wire, queued] of a.to) queuedAs.set(wire, queued);
      }
      const queued = (addr: string) => queuedAs.get(addr) ?? addr;
      const { stream, size } = msg.open();
      const envelope = { from, to, size, use8BitMime: rec.body === '8BITMIME', ...(dsn ? { dsn } : {}) };
      let info: SendInfo | undefined;
      let error: SmtpError | undefined;
      try {
        info = await session.send(envelope, stream);
      } catch (e) {
        error = e as SmtpError;
      } finally {
        stream.destroy();
      }
      if (info) {
        for (const re of info.rejectedErrors) if (re.recipient) out.set(queued(re.recipient), classify(re as SmtpFailure, session.peer, ctx));
        const ok = sentOutcome(session.peer, info.response);
        for (const a of info.accepted) out.set(queued(a), ok);
      } else if (error) {
        // A reused session the relay closed while idle: nothing of the message was sent, so it
        // may go again at once over a new session.
        if (!error.responseCode && session.messages > 1 && !stream.readableDidRead && batches.size === 1) retry = true;
        for (const re of error.rejectedErrors ?? []) if (re.recipient) out.set(queued(re.recipient), classify(re as SmtpFailure, session.peer, ctx));
        const o = classify(error as SmtpFailure, session.peer, ctx);
        for (const r of batch) if (!out.has(r.address)) out.set(r.address, o);
        if ((error.code === 'EENVELOPE' || error.code === 'EMESSAGE') && error.responseCode !== 421 && session.alive) {
          if (!(await session.reset())) session.close();
        } else if (!error.responseCode || error.responseCode === 421) session.close();
      }
      for (const r of batch)
        if (!out.has(r.address)) out.set(r.address, { status: 'deferred', dsn: '4.0.0', reason: `no reply for this recipient from ${session.peer}` });
    }
    return { out, retry };
  }

  async processMessage(id: string, slot: Slot, force: boolean): Promise<MessageResult> {
    const result: MessageResult = { id, state: 'done', outcomes: new Map(), remaining: 0, bounceIds: [] };
    const { paths, log, config } = this.opts;
    const release = await tryLock(paths, id, config.lockStaleMs);
    if (!release) return { ...result, state: 'locked' };
    try {
      let rec: ControlRecord;
      try {
        // Small files read synchronously: one call instead of four thread-pool round trips
        // (open, stat, read, close), which is most of the CPU a flush spends per message.
        rec = readControlSync(paths, id);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return { ...result, state: 'gone' };
        if (code === 'EACCES' || code === 'EPERM') {
          // Someone else's record (root's, written by hand or by an old version): only root can
          // give it back, and until then the message waits. Said on every attempt, and by mailq.
          let owner = '';
          try {
            owner = `, owned by uid ${fs.statSync(path.join(paths.ctl, id)).uid}`;
          } catch {
            // gone meanwhile
          }
          log.line(id, `control record unreadable by the runner (${code}${owner}); run "sudo sendmail -q" once to give it back to the spool owner`, 'error');
        } else log.line(id, `unreadable control record, left alone: ${(e as Error).message}`, 'error');
        return { ...result, state: 'error' };
      }
      const pickup = this.now();
      if (rec.hold) return { ...result, state: 'held', remaining: pendingRecipients(rec).length };
      if (!force && !this.isDue(rec, pickup)) return { ...result, state: 'not-due', remaining: pendingRecipients(rec).length };
      const pending = pendingRecipients(rec);
      if (pending.length === 0) {
        await removeMessage(paths, id);
        log.line(id, 'removed');
        return { ...result, state: 'gone' };
      }

      // Plan (plan/rewrite.ts): route each recipient (or hold it) and rewrite the sender and
      // header per group (masquerade, force_sender, sender_table). Small messages are read whole
      // once (header and sending); large ones are streamed, so memory stays flat.
      const file = messagePath(paths, id);
      let whole: Buffer | undefined;
      let stored: StoredHeader;
      if (rec.size <= SMALL_MESSAGE) {
        whole = fs.readFileSync(file);
        stored = headerSectionOf(whole) ?? { text: whole.toString('latin1'), bodyOffset: whole.length };
      } else stored = await readStoredHeader(file);
      const byAddress = new Map(pending.map((r) => [r.address, r]));
      const groups: { relay: string; rcpts: RecipientState[]; msg: GroupMessage }[] = [];
      let held = 0;
      const holdReasons = new Map<string, string>();
      for (const g of planDelivery(config, { sender: rec.sender, recipients: pending.map((r) => r.address), header: stored.text })) {
        const rcpts = g.recipients.map((a) => byAddress.get(a)).filter((r): r is RecipientState => r !== undefined);
        if (!g.relay) {
          held += rcpts.length;
          const from = fromAddressOf(stored.text);
          for (const r of rcpts) holdReasons.set(r.address, routeHoldReason(config, rec.sender, r.address, from));
          continue;
        }
        if (g.rewrites.length > 0) log.line(id, `rewritten for relay ${g.relay}: ${g.rewrites.join('; ')}`);
        groups.push({ relay: g.relay, rcpts, msg: groupMessageFor(file, whole, stored, g, rec.size) });
      }

      // Recipients held by a route say so (mailq, queue show): written only when that changes.
      const heldWhy = [...new Set(holdReasons.values())].join('; ');
      if (holdReasons.size > 0 && rec.recipients.some((r) => holdReasons.has(r.address) && r.reason !== holdReasons.get(r.address))) {
        const changed = rec.recipients.map((r) =>
          holdReasons.has(r.address) ? { ...r, reason: holdReasons.get(r.address)!, cause: holdReasons.get(r.address)! } : r,
        );
        rec = { ...rec, recipients: changed };
        await writeControl(paths, rec);
        if (groups.length === 0) log.line(id, `${held} recipient(s) ${heldWhy}`);
      }
      // Nothing to attempt (every pending recipient held by a route): leave the schedule alone.
      if (groups.length === 0) return { ...result, state: 'held', remaining: pending.length, heldReason: heldWhy };
      // First sight of a message submitted on this host (drops are logged by pickup, listener
      // mail by smtpd, bounces are our own): Postfix's pickup line, which log reports count.
      if (rec.attempts === 0 && !rec.drop && rec.origin !== 'bounce' && rec.origin !== 'smtp')
        log.line(id, formatReceived(rec.uid, rec.sender), 'info', 'pickup');
      log.line(id, formatPickup(rec.sender, rec.size, pending.length));
      if (held > 0) log.line(id, `${held} recipient(s) ${heldWhy}`);
      const outcomes = result.outcomes;
      const relayOf = new Map<string, string>();
      const timing = new Map<string, [number, number]>();
      // Recipients kept by a sending limit or a quota pause: when they are due (limits.ts).
      const limitUntil = new Map<string, number>();
      let groupIndex = 0;
      for (const { relay: first, rcpts: group, msg: planned } of groups) {
        let msg = planned;
        if (groupIndex++ > 0) {
          // Record what the previous relay accepted before talking to the next one.
          rec = this.applyOutcomes(rec, outcomes, relayOf, false);
          await writeControl(paths, rec);
        }
        const keep = (wait: { until: number; reason: string }) => {
          const o: Outcome = { status: 'deferred', dsn: '4.7.0', reason: wait.reason };
          for (const r of group) {
            outcomes.set(r.address, o);
            relayOf.set(r.address, first);
            timing.set(r.address, [0, 0]);
            limitUntil.set(r.address, wait.until);
          }
        };
        const gate = await this.limitGate(first, group.length);
        if ('until' in gate) {
          keep(gate);
          continue;
        }
        const { name, s } = await this.sessionWithFallbacks(slot, first);
        // Paused by a quota reply while this slot waited for its session: not one more attempt.
        const paused = 'failure' in s ? null : pausedUntil(paths, first, this.now());
        if (paused) {
          keep(paused);
          if (gate.recorded) await unreserve(paths, first, gate.at, group.length);
          continue;
        }
        if (name !== first) {
          // A fallback relay has its own rewriting (force_sender): plan the group again for it.
          const r = rewriteSender(config, name, rec.sender, stored.text, senderEntryFor(config, group[0]!.address));
          msg = groupMessageFor(file, whole, stored, { route: { relay: name }, relay: name, recipients: group.map((x) => x.address), ...r }, rec.size);
          if (r.rewrites.length > 0) log.line(id, `rewritten for relay ${name}: ${r.rewrites.join('; ')}`);
        }
        if ('failure' in s) {
          const o = classify(s.failure as SmtpFailure, s.peer, { relay: name, sender: msg.sender });
          for (const r of group) {
            outcomes.set(r.address, o);
            relayOf.set(r.address, s.peer);
            timing.set(r.address, [0, 0]);
          }
          if (gate.recorded) await unreserve(paths, first, gate.at, group.length);
          continue;
        }
        let t0 = this.now();
        let sent = await this.sendGroup(rec, group, s.session, msg, name);
        let setupMs = s.setupMs;
        if (sent.retry) {
          s.session.close();
          slot.sessions.delete(name);
          const again = await this.session(slot, name);
          if ('session' in again) {
            setupMs = again.setupMs;
            t0 = this.now();
            sent = await this.sendGroup(rec, group, again.session, msg, name);
            s.session = again.session;
          }
        }
        const got = sent.out;
        const dt = this.now() - t0;
        if ([...got.values()].some((o) => o.status === 'sent')) this.delivered(name);
        await this.afterLimits(first, gate, group.length, got, limitUntil, id);
        for (const [a, o] of got) {
          outcomes.set(a, o);
          relayOf.set(a, s.session.peer);
          timing.set(a, [setupMs, dt]);
        }
      }

      const now = this.now();
      const problems: Outcome[] = [];
      for (const r of pending) {
        const o = outcomes.get(r.address);
        if (!o) continue;
        const [c, d] = timing.get(r.address) ?? [0, 0];
        const line = formatDelivery({
          rcpt: r.address,
          relay: relayOf.get(r.address) ?? 'none',
          delay: now - rec.arrival,
          delays: [pickup - rec.arrival, 0, c, d],
          dsn: o.dsn,
          status: o.status === 'failed' ? 'bounced' : o.status,
          reason: o.reason,
        });
        log.line(id, line, 'info');
        if (o.fix) problems.push(o);
      }
      // One loud notice per configuration problem, not one per message (the lines above say
      // which messages it keeps).
      for (const o of problems) this.announce(o);

      // Schedule, expire. Time held for a configuration problem does not count towards the
      // queue lifetime (schedule.ts lifetimeStart()).
      const anyDeferred = [...outcomes.values()].some((o) => o.status === 'deferred');
      const configProblem = problems.length > 0;
      const slow = [...outcomes.values()].some((o) => o.slow === true);
      if (configProblem) {
        rec.configSince ??= now;
        rec.configTag = this.configTag;
      } else if (rec.configSince !== undefined) {
        rec.configMs = (rec.configMs ?? 0) + Math.max(0, now - rec.configSince);
        delete rec.configSince;
        delete rec.configTag;
      }
      let next = 0;
      // Kept only by sending limits or a quota pause: due when they end, never expired.
      const limitWaits = [...outcomes].filter(([, o]) => o.status === 'deferred').map(([a]) => limitUntil.get(a));
      if (anyDeferred && limitWaits.every((t) => t !== undefined)) {
        next = Math.min(...(limitWaits as number[]));
      } else if (anyDeferred) {
        const n = nextAttempt(this.policy, rec.attempts + 1, lifetimeStart(rec, now), now, this.opts.random, slow);
        if ('giveUp' in n && !configProblem) {
          for (const [a, o] of outcomes) {
            if (o.status === 'deferred') {
              outcomes.set(a, { status: 'failed', dsn: o.dsn.replace(/^4/, '5'), reason: `delivery time expired: ${o.reason}` });
              log.line(
                id,
                `to=<${a}>, relay=${relayOf.get(a) ?? 'none'}, delay=${Math.round((now - rec.arrival) / 1000)}, dsn=${o.dsn.replace(/^4/, '5')}, status=expired, returned to sender`,
                'warning',
              );
            }
          }
        } else {
          const table = this.policy.retryScheduleMs;
          next = 'retryAt' in n ? n.retryAt : now + table[table.length - 1]!;
        }
      }

      // Bounces first (see the header), then the durable record.
      const failedNow = pending.filter((r) => outcomes.get(r.address)?.status === 'failed');
      let keepForPostmaster = false;
      let toPostmaster: string | undefined;
      if (failedNow.length > 0) {
        if (rec.sender === '') {
          // Never a bounce about a bounce: on to the postmaster once, else held and reported.
          const pm = rec.postmaster === undefined ? postmasterAddress(config, this.opts.env) : undefined;
          if (pm && !failedNow.some((r) => r.address.toLowerCase() === pm.toLowerCase())) {
            toPostmaster = pm;
            log.line(id, `undeliverable message with the null sender (a bounce): sent on to the postmaster <${pm}>, never bounced`, 'warning');
          } else {
            keepForPostmaster = true;
            log.line(
              id,
              `undeliverable message with the null sender (a bounce): kept on hold, never bounced${rec.postmaster !== undefined ? ` (the postmaster <${rec.postmaster}> could not take it either)` : ': set postmaster (or OUTBOX_POSTMASTER) to have such mail sent on'}`,
              'error',
            );
          }
        } else {
          const notice: ReportRecipient[] = failedNow
            .filter((r) => wantsNotice(r, 'failed'))
            .map((r) => {
              const o = outcomes.get(r.address)!;
              const peer = relayOf.get(r.address) ?? '';
              return {
                address: r.address,
                ...(r.orcpt ? { orcpt: r.orcpt } : {}),
                dsn: o.dsn,
                reason: o.reason,
                ...(peer && peer !== 'none' ? { remoteMta: `dns; ${peer.replace(/\[.*$/, '').replace(/:\d+$/, '')}` } : {}),
              };
            });
          if (notice.length > 0) {
            try {
              const bid = await commitReport(config, rec, 'failed', notice, now);
              result.bounceIds.push(bid);
              log.line(id, `sender non-delivery notification: ${bid}`);
            } catch (e) {
              // Keep the original (its failed recipients marked) so nothing is lost.
              keepForPostmaster = true;
              log.line(id, `could not queue the bounce: ${(e as Error).message}; message kept on hold`, 'error');
            }
          }
        }
      }

      // Optional delay warning (delay_warning), once per message, never for a bounce, nor while a
      // configuration problem holds it: the warning would go through the same broken relay (or
      // to the very sender it refuses); the administrator has the notice.
      let warnNow = false;
      if (next > 0 && !configProblem && rec.sender !== '' && delayWarningDue(this.policy, rec.arrival, now, rec.warned === true)) {
        const late: ReportRecipient[] = pending
          .filter((r) => outcomes.get(r.address)?.status === 'deferred' && wantsNotice(r, 'delayed'))
          .map((r) => ({
            address: r.address,
            ...(r.orcpt ? { orcpt: r.orcpt } : {}),
            dsn: outcomes.get(r.address)!.dsn,
            reason: outcomes.get(r.address)!.reason,
          }));
        if (late.length > 0) {
          try {
            const wid = await commitReport(config, rec, 'delayed', late, now);
            result.bounceIds.push(wid);
            warnNow = true;
            log.line(id, `sender delay notification: ${wid}`);
          } catch (e) {
            log.line(id, `could not queue the delay warning: ${(e as Error).message}`, 'warning');
          }
        }
      }

      rec = this.applyOutcomes(rec, outcomes, relayOf, true);
      rec.nextAttempt = next;
      if (warnNow) rec.warned = true;
      if (keepForPostmaster) {
        rec.hold = true;
        for (const r of rec.recipients) if (r.status === 'failed' && failedNow.some((f) => f.address === r.address)) r.status = 'deferred';
      }
      if (toPostmaster) {
        rec.postmaster = toPostmaster;
        rec.recipients = [...rec.recipients, { address: toPostmaster, status: 'pending' }];
        rec.nextAttempt = 0;
        result.bounceIds.push(id);
      }
      const remaining = pendingRecipients(rec).length;
      if (remaining === 0) {
        await removeMessage(paths, id);
        log.line(id, 'removed');
      } else {
        await writeControl(paths, rec);
      }
      for (const o of outcomes.values()) this.stats[o.status]++;
      this.stats.done++;
      return { ...result, remaining };
    } finally {
      await release();
    }
  }

  /** A new record with this attempt's outcomes applied (attempts counted once when final). */
  private applyOutcomes(rec: ControlRecord, outcomes: Map<string, Outcome>, relayOf: Map<string, string>, final: boolean): ControlRecord {
    const now = this.now();
    const recipients = rec.recipients.map((r) => {
      const o = outcomes.get(r.address);
      if (!o || r.status === 'sent' || r.status === 'failed') return r;
      const { fix: _f, cause: _c, ...rest } = r;
      return {
        ...rest,
        status: o.status,
        reason: o.reason,
        ...(o.fix ? { fix: o.fix, cause: o.cause ?? o.reason } : {}),
        dsn: o.dsn,
        relay: relayOf.get(r.address) ?? 'none',
        updated: now,
      };
    });
    let next: ControlRecord = { ...rec, recipients };
    if (final) {
      const deferred = [...outcomes.values()].find((o) => o.status === 'deferred');
      next.attempts = rec.attempts + 1;
      if (deferred) next.lastError = withFix(deferred.reason, deferred.fix);
      const counts = { sent: 0, deferred: 0, failed: 0 };
      for (const o of outcomes.values()) counts[o.status]++;
      next = withHistory(next, {
        time: now,
        event: 'attempt',
        detail: `sent=${counts.sent} deferred=${counts.deferred} failed=${counts.failed}${deferred ? `: ${deferred.reason}` : ''}`,
      });
    }
    return next;
  }
}
