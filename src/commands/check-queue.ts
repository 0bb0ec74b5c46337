/**
 * commands/check-queue.ts — `outbox check --queue [-C FILE] [--max-age DURATION] [--max-held N]`:
 * a monitoring check of the queue with the monitoring-plugins conventions (Nagios, Icinga,
 * Sensu, Zabbix's Nagios bridge): one status line, perfdata after `|`, more causes on the
 * following lines (long output), and the exit status
 *   0 OK        nothing held, the oldest waiting message is younger than --max-age;
 *   1 WARNING   the oldest waiting message (not counting those put on hold by an
 *               administrator) is older than --max-age (default 1h);
 *   2 CRITICAL  more than --max-held (default 0) messages held for a configuration problem
 *               (refused login or sender, TLS, a hold route) or undeliverable bounces;
 *   3 UNKNOWN   bad arguments, or the queue cannot be read (run it as root or the spool's owner).
 * The causes come from queue/problems.ts, as in the mailq summary.
 *
 * judge() is pure (unit-tested); command() reads the control records (never message bodies).
 */
import * as fs from 'node:fs';
import type { Io } from '../io.js';
import { loadConfig } from '../config/config.js';
import { parseForm, value } from '../cli/args.js';
import { parseDuration } from '../duration.js';
import { pendingRecipients } from '../spool/format.js';
import { listIds, readControlSync, spoolPaths } from '../spool/spool.js';
import { ProblemSummary, formatGroup, type ProblemGroup } from '../queue/problems.js';
import { type UsageTable, addUsage, usageReport, userLimits } from '../spool/usage.js';
import { passwdEntry } from '../passwd.js';
import { usageForm } from '../cli/usage.js';

export const OK = 0;
export const WARNING = 1;
export const CRITICAL = 2;
export const UNKNOWN = 3;
const NAMES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'];

export const USAGE = usageForm('check', '--queue');

export interface QueueFacts {
  messages: number;
  held: number;
  deferred: number;
  failedBounces: number;
  onHold: number;
  /** Arrival of the oldest waiting message (on-hold ones left out), or null. */
  oldest: number | null;
  groups: ProblemGroup[];
  /** Queued messages and bytes per submitting uid (spool/usage.ts: per-user limits). */
  usage?: UsageTable;
}

export interface Thresholds {
  maxAgeMs: number;
  maxHeld: number;
}

/** "3h 2m", "45s": an age for people. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return [d ? `${d}d` : '', h ? `${h}h` : '', m || (!d && !h) ? `${m}m` : ''].filter(Boolean).join(' ');
}

/** The status and the plugin output (status line with perfdata, then long output). Pure. */
export function judge(f: QueueFacts, t: Thresholds, now: number): { status: number; text: string } {
  const age = f.oldest === null ? 0 : Math.max(0, now - f.oldest);
  const stuck = f.held + f.failedBounces;
  const status = stuck > t.maxHeld ? CRITICAL : age > t.maxAgeMs ? WARNING : OK;
  const problems = f.groups.filter((g) => g.kind !== 'deferred' || status !== CRITICAL);
  const first = problems[0] ? formatGroup(problems[0]) : f.messages === 0 ? 'queue empty' : `${f.messages} message(s) waiting`;
  const counts = [`${f.held} held`, `${f.deferred} deferred`, `${f.failedBounces} failed bounce(s)`, ...(f.onHold ? [`${f.onHold} on hold`] : [])].join(', ');
  const oldest = f.oldest === null ? '' : `; oldest ${formatAge(age)}${age > t.maxAgeMs ? ` (more than ${formatAge(t.maxAgeMs)})` : ''}`;
  const perf = [
    `messages=${f.messages};;;0`,
    `held=${f.held};;${t.maxHeld};0`,
    `deferred=${f.deferred};;;0`,
    `failed_bounces=${f.failedBounces};;${t.maxHeld};0`,
    `on_hold=${f.onHold};;;0`,
    `oldest=${Math.floor(age / 1000)}s;${Math.floor(t.maxAgeMs / 1000)};;0`,
  ].join(' ');
  const long = f.groups.slice(0, 20).map(formatGroup);
  const text = `OUTBOX QUEUE ${NAMES[status]} - ${first}; ${counts}${oldest} | ${perf}\n${long.map((l) => `${l}\n`).join('')}`;
  return { status, text };
}

/** Read every control record of the spool into facts. Throws when the queue cannot be read. */
export async function queueFacts(spool: string): Promise<QueueFacts> {
  const p = spoolPaths(spool);
  const empty: QueueFacts = { messages: 0, held: 0, deferred: 0, failedBounces: 0, onHold: 0, oldest: null, groups: [] };
  if (!fs.existsSync(p.ctl)) return empty; // nothing was ever queued here (as mailq: "empty")
  fs.accessSync(p.ctl, fs.constants.R_OK | fs.constants.X_OK);
  const summary = new ProblemSummary();
  let messages = 0;
  let onHold = 0;
  let oldest: number | null = null;
  const usage: UsageTable = new Map();
  for (const id of await listIds(p)) {
    let rec;
    try {
      rec = readControlSync(p, id);
    } catch {
      continue; // delivered meanwhile, or not ours to judge
    }
    addUsage(usage, rec.uid, rec.size);
    if (pendingRecipients(rec).length === 0) continue;
    messages++;
    summary.add(rec);
    if (rec.hold && rec.sender !== '') onHold++;
    else if (oldest === null || rec.arrival < oldest) oldest = rec.arrival;
  }
  return {
    messages,
    held: summary.count('held'),
    deferred: summary.count('deferred'),
    failedBounces: summary.count('failed-bounce'),
    onHold,
    oldest,
    groups: summary.groups(),
    usage,
  };
}

function unknown(io: Io, why: string): number {
  io.stdout.write(`OUTBOX QUEUE UNKNOWN - ${why.replace(/\s*\n\s*/g, ' ')}\n`);
  return UNKNOWN;
}

export async function command(args: string[], io: Io): Promise<number> {
  const t: Thresholds = { maxAgeMs: 3600_000, maxHeld: 0 };
  let configFile: string | undefined;
  try {
    const p = parseForm('check --queue', args);
    configFile = p.configFile;
    const maxAge = value(p, 'max-age');
    if (maxAge !== undefined) {
      const v = parseDuration(maxAge);
      if (v === null || v <= 0) return unknown(io, `--max-age: a duration like 30m, 2h or 1d (${USAGE})`);
      t.maxAgeMs = v;
    }
    const maxHeld = value(p, 'max-held');
    if (maxHeld !== undefined) {
      if (!/^\d+$/.test(maxHeld)) return unknown(io, `--max-held: a count of messages (${USAGE})`);
      t.maxHeld = Number(maxHeld);
    }
  } catch (e) {
    return unknown(io, (e as Error).message);
  }
  let facts: QueueFacts;
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(configFile !== undefined ? { file: configFile } : {});
    facts = await queueFacts(config.spool);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EACCES')
      return unknown(io, `cannot read the queue (${err.path ?? ''}): run the check as root or as the spool's owner (e.g. sudo -u outbox outbox check --queue)`);
    return unknown(io, err.message);
  }
  const r = judge(facts, t, Date.now());
  io.stdout.write(r.text);
  // Users at 80 % of a per-user limit or more (README "Privilege model"), in the long output.
  const near = usageReport(facts.usage ?? new Map(), userLimits(config), (uid) => passwdEntry(uid)?.name ?? `uid${uid}`);
  for (const line of near) io.stdout.write(`near a per-user limit: ${line}\n`);
  return r.status;
}
