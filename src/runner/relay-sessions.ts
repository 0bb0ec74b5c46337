/**
 * runner/relay-sessions.ts — the engine's connections to its relays: each relay prepared once
 * (credentials, TLS: relay/session.ts prepareRelay), the slots' open sessions (pool.ts), how
 * many may be open to one relay at a time, and which relays are down.
 *
 *   - Slow start (as Postfix's queue manager): a run begins with INITIAL_CONCURRENCY
 *     connections to a relay and adds one after as many successful deliveries as it has
 *     connections, so a handful of messages never opens a connection each, and a big flush
 *     reaches the cap soon.
 *   - The cap: max_connections (default: the number of slots), lowered at run time when the
 *     relay refuses an extra connection while others are open (the learned cap: Office 365 and
 *     friends limit concurrent sessions per account).
 *   - Until a first session to a relay has opened, only one connection to it is attempted at a
 *     time, so a wrong password costs one failed login per run, and a relay that never greets
 *     costs one timeout, whatever the queue size.
 *   - A relay whose session could not be opened (down, TLS, AUTH) is marked down for
 *     `relayDownMs`: the slots waiting for it defer their messages with the same reason without
 *     hammering it.
 * Fallback relays are fallbacks.ts.
 */
import type { Config } from '../config/config.js';
import type { RelaySettings } from '../config/types.js';
import type { Log } from '../log/log.js';
import { Session } from '../relay/session.js';
import { NO_RELAY_FIX } from '../relay/env.js';
import { prepareRelay, type PreparedRelay } from '../relay/prepare.js';
import { configFailure, smtpError, type SmtpError } from '../relay/errors.js';
import type { Transcript } from '../relay/connect.js';
import type { Slot } from './pool.js';

/** Connections to a relay at the start of a run (slow start). */
const INITIAL_CONCURRENCY = 2;

/** What the sessions read from the engine's options (the config changes on a reload). */
export interface SessionOptions {
  config: Config;
  env: NodeJS.ProcessEnv;
  log: Log;
  transcript?: Transcript;
  /** How long a relay that failed to open stays "down". */
  relayDownMs: number;
  now?: () => number;
}

/** A slot's session to a relay, or the failure that prevented it (and the peer it concerns). */
export type SessionOrFailure = { session: Session; setupMs: number } | { failure: SmtpError; peer: string };

export class RelaySessions {
  private prepared = new Map<string, Promise<PreparedRelay | { failure: SmtpError }>>();
  private down = new Map<string, { until: number; failure: SmtpError; peer: string }>();
  /** Sessions being opened, to abort when the engine stops. */
  readonly opening = new Set<() => void>();
  private connecting = new Map<string, number>();
  private concurrency = new Map<string, number>();
  private waiters: (() => void)[] = [];
  private learnedCap = new Map<string, number>();
  /** Relays a session has opened to (since they were last down): more than one may open at once. */
  private proven = new Set<string>();

  constructor(
    private readonly opts: SessionOptions,
    private readonly pool: { readonly slots: Slot[]; readonly free: Slot[] },
    private readonly stopping: () => boolean,
  ) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** A new configuration: relays are prepared again, down marks and learned caps forgotten, idle sessions closed. */
  reconfigure(): void {
    this.prepared.clear();
    this.down.clear();
    this.learnedCap.clear();
    for (const slot of this.pool.free) {
      for (const s of slot.sessions.values()) s.close();
      slot.sessions.clear();
    }
  }

  /** Close the free slots' sessions that are dead or idle since before `limit`. */
  closeIdle(limit: number): void {
    for (const slot of this.pool.free) {
      for (const [name, s] of slot.sessions) {
        if (!s.alive || s.lastUsed < limit) {
          s.close();
          slot.sessions.delete(name);
        }
      }
    }
  }

  /** Abandon what is in flight: abort the sessions being opened, destroy the open ones. */
  destroyAll(): void {
    for (const abort of [...this.opening]) abort();
    for (const slot of this.pool.slots) for (const s of slot.sessions.values()) s.destroy();
  }

  /** Close every session (the engine stops). */
  closeAll(): void {
    for (const slot of this.pool.slots) {
      for (const s of slot.sessions.values()) s.close();
      slot.sessions.clear();
    }
  }

  private relay(name: string): Promise<PreparedRelay | { failure: SmtpError }> {
    let p = this.prepared.get(name);
    if (!p) {
      const settings: RelaySettings | undefined = this.opts.config.relays?.[name];
      p = (async () => {
        try {
          if (!settings) {
            throw configFailure(
              name === 'env' ? `no relay configured: ${NO_RELAY_FIX}` : `no relay named "${name}" (routes and fallbacks must name a [relay.NAME] table)`,
            );
          }
          return await prepareRelay(settings, this.opts.env, this.opts.config.file);
        } catch (e) {
          return { failure: e as SmtpError };
        }
      })();
      this.prepared.set(name, p);
    }
    return p;
  }

  /** Open (live) sessions to relay `name`, over all slots. */
  private openSessions(name: string): number {
    let n = 0;
    for (const slot of this.pool.slots) if (slot.sessions.get(name)?.alive) n++;
    return n;
  }

  /** Live and opening sessions to relay `name`, over all slots. */
  private relayCount(name: string): number {
    return (this.connecting.get(name) ?? 0) + this.openSessions(name);
  }

  /** Connections allowed to relay `name` (see the header: max_connections, learned cap, slow start). */
  private cap(name: string): number {
    const slots = this.pool.slots.length;
    const configured = Math.max(1, Math.min(slots, this.opts.config.relays?.[name]?.maxConnections ?? slots));
    const slowStart = Math.floor(this.concurrency.get(name) ?? INITIAL_CONCURRENCY);
    return Math.min(configured, this.learnedCap.get(name) ?? configured, slowStart);
  }

  /** A delivery to relay `name` succeeded: slow start opens up (see the header). */
  delivered(name: string): void {
    const c = this.concurrency.get(name) ?? INITIAL_CONCURRENCY;
    this.concurrency.set(name, c + 1 / Math.floor(c));
  }

  /** Wake the slots waiting for a connection (a slot became free, or a session opened or failed). */
  wakeWaiters(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Forget the slot's session to `name` (closed: the next session() opens a new one). */
  drop(slot: Slot, name: string): void {
    slot.sessions.get(name)?.close();
    slot.sessions.delete(name);
  }

  /** The slot's session to `name`, opened if needed; or the failure that prevented it. */
  async session(slot: Slot, name: string, retried = false): Promise<SessionOrFailure> {
    const existing = slot.sessions.get(name);
    if (existing?.alive) return { session: existing, setupMs: 0 };
    if (existing) {
      existing.close();
      slot.sessions.delete(name);
    }
    const relay = await this.relay(name);
    if ('failure' in relay) return { failure: relay.failure, peer: name };
    // At the relay's connection limit: take over an idle session of a free slot, or wait. Until
    // a session to the relay has opened in this engine, one connection at a time: a wrong
    // password costs one failed login per run, not one per slot. The down check is made after
    // every wait, so that slots that waited do not hammer a relay that just failed.
    for (;;) {
      const down = this.down.get(name);
      if (down && down.until > this.now()) return { failure: down.failure, peer: down.peer };
      if (this.relayCount(name) < (this.proven.has(name) ? this.cap(name) : 1)) break;
      for (const other of this.pool.free) {
        const idle = other.sessions.get(name);
        if (idle?.alive) {
          other.sessions.delete(name);
          slot.sessions.set(name, idle);
          return { session: idle, setupMs: 0 };
        }
      }
      if (this.stopping()) return { failure: smtpError('delivery interrupted (terminated)', { code: 'ECONNECTION' }), peer: relay.label };
      // Woken when a slot (and its session) becomes free; the timeout is only a safety net.
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => {
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
      const err = e as SmtpError;
      const peer = err.peer ?? relay.label;
      // Only sessions that are open prove that the relay is up: others still opening may be
      // failing for the same reason as this one.
      const live = this.openSessions(name);
      if (live > 0 && !retried && !this.stopping()) {
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
      if (!this.stopping()) {
        this.down.set(name, { until: this.now() + this.opts.relayDownMs, failure: err, peer });
        this.proven.delete(name);
      }
      return { failure: err, peer };
    } finally {
      uncount();
      // Slots waiting for this relay: it is up (more may open) or down (they defer at once).
      this.wakeWaiters();
    }
  }
}
