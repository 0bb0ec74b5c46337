/**
 * runner/send.ts — the send step of an attempt (attempt.ts): each relay group of the message in
 * turn through the relay's sending limits (limits.ts: wait for a near rate slot, or keep the
 * group until it is due), a session to the relay or a fallback (relay-sessions.ts,
 * fallbacks.ts), and one transaction (transaction.ts), once more over a new session when a
 * reused one was found closed. What a relay accepted is recorded before the next relay is
 * talked to. Returns each recipient's outcome; writes nothing else.
 */
import type { Config } from '../config/config.js';
import type { ControlRecord, RecipientState } from '../spool/format.js';
import { type SpoolPaths, writeControl } from '../spool/spool.js';
import type { Log } from '../log/log.js';
import { relayLimits } from '../config/limits.js';
import { rewriteSender, senderEntryFor } from '../plan/rewrite.js';
import { type Outcome, classify } from './classify.js';
import { type Grant, clearPause, pauseRelay, pausedUntil, reserve, unreserve } from './limits.js';
import type { Slot } from './pool.js';
import type { RelaySessions } from './relay-sessions.js';
import { sessionWithFallbacks } from './fallbacks.js';
import { type GroupMessage, type StoredMessage, groupMessageFor, sendGroup } from './transaction.js';
import { applyOutcomes } from './record.js';

/** What the send step needs from the engine. */
export interface SendEnv {
  opts: { config: Config; paths: SpoolPaths; log: Log };
  sessions: RelaySessions;
  /** Waits for a rate slot, cut short when the engine stops. */
  sleepers: Set<() => void>;
  readonly stopping: boolean;
  now(): number;
}

/** The recipients of one relay, and their message as planned for it. */
export interface PlannedGroup {
  relay: string;
  rcpts: RecipientState[];
  msg: GroupMessage;
}

/** What the send step learnt, per recipient address. */
export interface Sent {
  outcomes: Map<string, Outcome>;
  /** The peer each recipient's outcome came from ('none' if no session). */
  relayOf: Map<string, string>;
  /** [connection set-up ms, transmission ms] for the log line. */
  timing: Map<string, [number, number]>;
  /** Recipients kept by a sending limit or a quota pause: when they are due. */
  limitUntil: Map<string, number>;
}

/** Send every group; returns the record (updated between relays) and the outcomes. */
export async function sendGroups(
  e: SendEnv,
  slot: Slot,
  id: string,
  rec0: ControlRecord,
  groups: PlannedGroup[],
  m: StoredMessage,
): Promise<{ rec: ControlRecord; sent: Sent }> {
  const { config, paths, log } = e.opts;
  let rec = rec0;
  const sent: Sent = { outcomes: new Map(), relayOf: new Map(), timing: new Map(), limitUntil: new Map() };
  const { outcomes, relayOf, timing, limitUntil } = sent;
  let groupIndex = 0;
  for (const { relay: first, rcpts: group, msg: planned } of groups) {
    let msg = planned;
    if (groupIndex++ > 0) {
      // Record what the previous relay accepted before talking to the next one.
      rec = applyOutcomes(rec, outcomes, relayOf, false, e.now());
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
    const gate = await limitGate(e, first, group.length);
    if ('until' in gate) {
      keep(gate);
      continue;
    }
    const { name, s } = await sessionWithFallbacks(e.sessions, e.opts, slot, first);
    // Paused by a quota reply while this slot waited for its session: not one more attempt.
    const paused = 'failure' in s ? null : pausedUntil(paths, first, e.now());
    if (paused) {
      keep(paused);
      if (gate.recorded) await unreserve(paths, first, gate.at, group.length);
      continue;
    }
    if (name !== first) {
      // A fallback relay has its own rewriting (force_sender): plan the group again for it.
      const r = rewriteSender(config, name, rec.sender, m.stored.text, senderEntryFor(config, group[0]!.address));
      msg = groupMessageFor(m, { route: { relay: name }, relay: name, recipients: group.map((x) => x.address), ...r });
      if (r.rewrites.length > 0) log.line(id, `rewritten for relay ${name}: ${r.rewrites.join('; ')}`);
    }
    if ('failure' in s) {
      const o = classify(s.failure, s.peer, { relay: name, sender: msg.sender });
      for (const r of group) {
        outcomes.set(r.address, o);
        relayOf.set(r.address, s.peer);
        timing.set(r.address, [0, 0]);
      }
      if (gate.recorded) await unreserve(paths, first, gate.at, group.length);
      continue;
    }
    let t0 = e.now();
    let result = await sendGroup(rec, group, s.session, msg, name);
    let setupMs = s.setupMs;
    if (result.retry) {
      e.sessions.drop(slot, name);
      const again = await e.sessions.session(slot, name);
      if ('session' in again) {
        setupMs = again.setupMs;
        t0 = e.now();
        result = await sendGroup(rec, group, again.session, msg, name);
        s.session = again.session;
      }
    }
    const got = result.out;
    const dt = e.now() - t0;
    if ([...got.values()].some((o) => o.status === 'sent')) e.sessions.delivered(name);
    await afterLimits(e, first, gate, group.length, got, limitUntil, id);
    for (const [a, o] of got) {
      outcomes.set(a, o);
      relayOf.set(a, s.session.peer);
      timing.set(a, [setupMs, dt]);
    }
  }
  return { rec, sent };
}

/**
 * The sending limits of relay `name` for one message of `rcpts` recipients (limits.ts): wait
 * here for a near rate slot, or the time it is due (over a limit, or the relay paused).
 */
async function limitGate(e: SendEnv, name: string, rcpts: number): Promise<Grant> {
  const limits = relayLimits(e.opts.config.relays?.[name]);
  const g = await reserve(e.opts.paths, name, limits, rcpts, e.now());
  const wait = 'at' in g ? g.at - e.now() : 0;
  if (wait > 0 && !e.stopping) {
    await new Promise<void>((r) => {
      const wake = () => {
        clearTimeout(t);
        e.sleepers.delete(wake);
        r();
      };
      const t = setTimeout(wake, wait);
      e.sleepers.add(wake);
    });
  }
  // Stopped while waiting: the slot has not come, so the message is not sent early.
  if ('at' in g && g.at > e.now() && e.stopping) {
    if (g.recorded) await unreserve(e.opts.paths, name, g.at, rcpts);
    return { until: g.at, reason: `rate limit: relay ${name} allows ${limits?.rate ?? '?'}; delivery interrupted (terminated) before its turn` };
  }
  return g;
}

/**
 * After a group's attempt: give back the daily count of a message not accepted; a quota
 * reply pauses the relay for every runner (one attempt, not one per queued message), and its
 * recipients wait for the end of the pause (`until`).
 */
async function afterLimits(
  e: SendEnv,
  name: string,
  gate: Grant,
  rcpts: number,
  got: Map<string, Outcome>,
  until: Map<string, number>,
  id: string,
): Promise<void> {
  const { paths, config, log } = e.opts;
  const outs = [...got.values()];
  if ('at' in gate && gate.recorded && !outs.some((o) => o.status === 'sent')) await unreserve(paths, name, gate.at, rcpts);
  const quota = [...got].filter(([, o]) => o.slow === true && o.status === 'deferred');
  if (quota.length > 0) {
    const p = await pauseRelay(paths, name, relayLimits(config.relays?.[name]), quota[0]![1].reason, e.now());
    for (const [a] of quota) until.set(a, p.until);
    log.line(id, p.reason, 'warning');
  } else if (outs.some((o) => o.status === 'sent')) await clearPause(paths, name, e.now());
}
