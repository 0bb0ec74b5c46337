/**
 * spool/usage.ts — per-user limits of the system spool: how much of the queue each submitter
 * (uid) holds, whether one more message fits, and which users are near a limit.
 *
 * Why: pickup (spool/pickup.ts) copies what a user dropped into incoming/ into files owned by
 * the spool owner, outside that user's disk quota. Without a bound, one user could fill the
 * spool's filesystem for everyone. Limits (configuration keys, 0 = no limit):
 *   max_pending_per_user          entries of one uid in incoming/ taken per pickup pass (1000);
 *                                 the rest go in the next pass (runner/queue-run.ts starts it)
 *   max_queued_messages_per_user  messages of one uid in the queue (10000)
 *   max_queued_bytes_per_user     bytes of one uid's queued messages (1 GiB)
 * An entry over a limit is refused by pickup with one warning log line naming the uid and the
 * limit. usageReport() gives `outbox check --queue` its lines about users near a limit.
 * queueUsage() reads every control record once (uid and size only; cachedUsage() reuses it for a
 * few seconds); a pickup pass counts each uid's names in incoming/ (PassState); the rest is pure.
 */
import type { Config } from '../config/config.js';
import { type SpoolPaths, controlReader, listIds } from './spool.js';

export interface UserLimits {
  maxPending: number;
  maxMessages: number;
  maxBytes: number;
}

export const DEFAULT_LIMITS: UserLimits = { maxPending: 1000, maxMessages: 10_000, maxBytes: 1024 * 1024 * 1024 };

export function userLimits(config: Pick<Config, 'maxPendingPerUser' | 'maxQueuedMessagesPerUser' | 'maxQueuedBytesPerUser'>): UserLimits {
  return {
    maxPending: config.maxPendingPerUser ?? DEFAULT_LIMITS.maxPending,
    maxMessages: config.maxQueuedMessagesPerUser ?? DEFAULT_LIMITS.maxMessages,
    maxBytes: config.maxQueuedBytesPerUser ?? DEFAULT_LIMITS.maxBytes,
  };
}

export interface Usage {
  messages: number;
  bytes: number;
}

export type UsageTable = Map<number, Usage>;

/** Add one message of `size` bytes to uid's usage. */
export function addUsage(table: UsageTable, uid: number, size: number): void {
  const u = table.get(uid) ?? { messages: 0, bytes: 0 };
  u.messages++;
  u.bytes += size;
  table.set(uid, u);
}

/** Why one more message of `size` bytes from uid does not fit, or null when it does. Pure. */
export function overLimit(table: UsageTable, uid: number, size: number, limits: UserLimits): string | null {
  const u = table.get(uid) ?? { messages: 0, bytes: 0 };
  if (limits.maxMessages > 0 && u.messages + 1 > limits.maxMessages) {
    return `uid ${uid} already has ${u.messages} messages queued (max_queued_messages_per_user = ${limits.maxMessages})`;
  }
  if (limits.maxBytes > 0 && u.bytes + size > limits.maxBytes) {
    return `uid ${uid} has ${u.bytes} bytes queued, ${size} more would exceed max_queued_bytes_per_user = ${limits.maxBytes}`;
  }
  return null;
}

/** Usage of every uid in the queue (each control record read once; unreadable ones are skipped). */
export async function queueUsage(p: SpoolPaths): Promise<UsageTable> {
  const table: UsageTable = new Map();
  const read = controlReader(p);
  for (const id of await listIds(p)) {
    const rec = read(id);
    // Gone meanwhile, unreadable or corrupt: skipped (the runner reports it).
    if (typeof rec === 'object') addUsage(table, rec.uid, rec.size);
  }
  return table;
}

/**
 * Lines for `outbox check --queue`: users at or above `near` (default 80 %) of a limit, the
 * fullest first, at most `top`. `name` maps a uid to a login name. Pure.
 */
export function usageReport(table: UsageTable, limits: UserLimits, name: (uid: number) => string, near = 0.8, top = 5): string[] {
  const share = (u: Usage) => Math.max(limits.maxMessages > 0 ? u.messages / limits.maxMessages : 0, limits.maxBytes > 0 ? u.bytes / limits.maxBytes : 0);
  return [...table.entries()]
    .filter(([, u]) => share(u) >= near)
    .sort((a, b) => share(b[1]) - share(a[1]) || a[0] - b[0])
    .slice(0, top)
    .map(([uid, u]) => {
      const pct = (x: number, max: number) => (max > 0 ? ` (${Math.floor((100 * x) / max)}% of ${max})` : '');
      return `uid ${uid} (${name(uid)}): ${u.messages} messages${pct(u.messages, limits.maxMessages)}, ${u.bytes} bytes${pct(u.bytes, limits.maxBytes)} queued`;
    });
}

/** What one pickup pass knows about each submitter. */
export interface PassState {
  limits: UserLimits;
  /** Entries of each uid seen in incoming/ during this pass. */
  pending: Map<number, number>;
  /** The queue's usage per uid, read once per pass when first needed. */
  usage?: Promise<UsageTable>;
}

/**
 * The queue's usage per uid. Reading every control record costs about as much as `mailq`, so the
 * daemon (which picks up on every drop) reuses a table for USAGE_TTL_MS; pickups add to it as they
 * commit, and deliveries made meanwhile only make it overestimate, never let a user past a limit.
 */
const USAGE_TTL_MS = 10_000;
const usageCache = new Map<string, { at: number; table: Promise<UsageTable> }>();
export function cachedUsage(p: SpoolPaths, now: number): Promise<UsageTable> {
  const c = usageCache.get(p.root);
  if (c && now - c.at >= 0 && now - c.at < USAGE_TTL_MS) return c.table;
  const table = queueUsage(p);
  usageCache.set(p.root, { at: now, table });
  return table;
}

/** Count one more name of uid in incoming/; false when the uid is over max_pending_per_user. */
export function countPending(pass: PassState, uid: number): boolean {
  const n = (pass.pending.get(uid) ?? 0) + 1;
  pass.pending.set(uid, n);
  return !(pass.limits.maxPending > 0 && n > pass.limits.maxPending);
}
