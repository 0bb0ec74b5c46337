/**
 * spool/pickup.ts — move committed entries of the drop directory incoming/ into the queue.
 * Runs as the spool's owner (the runner, user `outbox`): at the start of every queue run and
 * whenever incoming/ changes (the daemon watches it). Whatever a submitter wrote is untrusted.
 *
 * For each committed envelope incoming/<ID>.<R>.env (see spool/drop.ts), in this order:
 *   1. Already queued? A control record whose `drop` field names this entry (looked up at the
 *      few ids pickupIds() allows) means a previous pickup crashed after its commit: only
 *      remove the entry. So an entry is never queued twice.
 *   2. Open both files with the one drop reader (spool/drop-read.ts): lstat, then open them
 *      O_RDONLY|O_NOFOLLOW|O_NONBLOCK and fstat, and check
 *      the fstat matches the lstat (same inode): a regular file, one link, owned by the same
 *      uid, envelope <= MAX_ENVELOPE_BYTES, message <= max_message_size (or
 *      DEFAULT_DROP_MAX_BYTES when that is 0). Symlinks, hard links, FIFOs, devices, sockets,
 *      directories, oversized, unreadable or foreign-owned entries are refused: logged and
 *      removed, never read through (a device or FIFO is never even opened).
 *      A uid with more than max_pending_per_user entries in this pass: the rest wait (kept).
 *   3. The envelope is parsed and every field re-validated (spool/envelope.ts: addresses with
 *      message/address.ts, DSN fields, sizes); only known fields are kept. The submitter's uid
 *      comes from fstat, never from the JSON; the login name from /etc/passwd for that uid.
 *      Over the uid's queue limits (spool/usage.ts): refused.
 *   4. The message bytes are copied (at most the fstat size; more is refused) into msg/<ID>
 *      (O_EXCL), each chunk checked by the submission content rules first (message/content.ts:
 *      no NUL, which is also what a sparse file's holes read as, so a hole is refused before it
 *      is copied dense; a well-formed header section), fsync'd, msg/ fsync'd; then ctl/<ID> is
 *      committed (spool.ts writeControl) with `drop` = the entry's name. The submitter's id is
 *      kept when free.
 *   5. The entry is removed (envelope first), and incoming/ fsync'd.
 * Everything else in incoming/ is swept by spool/sweep.ts: by age, type and owner, at most
 * SWEEP_PER_PASS names per pass, resuming where the last pass stopped. Up to PICKUP_PARALLEL
 * entries are handled at once; one pickup at a time per spool (the lock of pseudo-id `incoming`,
 * spool/lock.ts). Never throws for an entry: each problem is one log line.
 * Next: runner (src/runner/queue-run.ts) calls pickupIncoming().
 */
import { loginName } from '../passwd.js';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import type { Config } from '../config/config.js';
import { type ControlRecord, makeQueueId } from './format.js';
import { type SpoolPaths, fsyncDir, readControl, writeControl } from './spool.js';
import { DROP_ENVELOPE_RE, INCOMING } from './drop.js';
import { type DropEntry, DropRefused, dropMessageLimit, openDropEntry, readEnvelopeText } from './drop-read.js';
import { validateEnvelope } from './envelope.js';
import { sweepIncoming } from './sweep.js';
import { tryLock } from './lock.js';
import { NUL_ERROR, StoredMessageCheck } from '../message/content.js';
import { type PassState, addUsage, cachedUsage, countPending, overLimit, userLimits } from './usage.js';
import { type LineLog, formatReceived } from '../log/log.js';

/** Entries picked up at the same time. */
export const PICKUP_PARALLEL = 8;
/** How many ids one entry may be queued under (the submitter's, then derived ones). */
const ID_CANDIDATES = 8;

export interface PickupResult {
  /** Queue ids committed by this pickup. */
  queued: string[];
  /** Entries refused (and removed). */
  refused: number;
  /** Orphans and junk removed. */
  swept: number;
  /** Entries left for the next pass (a uid over max_pending_per_user). */
  waiting: number;
}

/**
 * The ids an entry may be queued under: the submitter's id first, then ids derived from the
 * entry's name (same arrival part). Deterministic, so a pickup after a crash finds a record it
 * committed before. Pure.
 */
export function pickupIds(id: string, dropName: string): string[] {
  const out = [id];
  for (let k = 1; k < ID_CANDIDATES; k++) {
    const h = createHash('sha256').update(`${dropName}/${k}`).digest();
    let i = 0;
    const derived = id.slice(0, 9) + makeQueueId(0, () => h[i++]! & 31).slice(9);
    if (!out.includes(derived)) out.push(derived);
  }
  return out;
}

/**
 * Copy at most `size` bytes, each chunk checked by the submission content rules before it is
 * written (message/content.ts): a NUL byte, which is also what a sparse file's hole reads as, or
 * a malformed header section is refused before any of it reaches msg/.
 */
async function copyChecked(src: fsp.FileHandle, dest: fsp.FileHandle, size: number): Promise<void> {
  const buf = Buffer.alloc(Math.min(1024 * 1024, Math.max(1, size + 1)));
  const rules = new StoredMessageCheck();
  let pos = 0;
  for (;;) {
    const { bytesRead } = await src.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    if (pos > size) throw new DropRefused('message grew while being copied');
    const problem = rules.push(buf.subarray(0, bytesRead));
    if (problem) throw new DropRefused(problem === NUL_ERROR ? `${problem} (or a hole: a sparse file)` : problem);
    let off = 0;
    while (off < bytesRead) off += (await dest.write(buf, off, bytesRead - off)).bytesWritten;
  }
  if (pos !== size) throw new DropRefused(`message shrank while being copied (${pos} of ${size} bytes)`);
  const problem = rules.end();
  if (problem) throw new DropRefused(problem);
}

async function unlinkQuiet(file: string): Promise<void> {
  await fsp.unlink(file).catch(() => {});
}

function readRecordAt(p: SpoolPaths, id: string): Promise<ControlRecord | null> {
  return readControl(p, id).catch(() => null);
}

type OneResult = { kind: 'queued'; id: string } | { kind: 'refused' } | { kind: 'cleaned' } | { kind: 'waiting'; uid: number };

/** Pick up one committed entry. Throws only for our own failures (retried on the next pickup). */
async function pickupOne(p: SpoolPaths, dir: string, envName: string, config: Config, log: LineLog, now: number, pass: PassState): Promise<OneResult> {
  const m = DROP_ENVELOPE_RE.exec(envName)!;
  const id = m[1]!;
  const msgName = envName.slice(0, -4);
  const envPath = path.join(dir, envName);
  const msgPath = path.join(dir, msgName);
  const candidates = pickupIds(id, msgName);

  // 1. Queued before a crash? Then only the removal is left to do.
  for (const c of candidates) {
    const rec = await readRecordAt(p, c);
    if (rec && rec.drop === msgName) {
      await unlinkQuiet(envPath);
      await unlinkQuiet(msgPath);
      log.line(c, `${INCOMING}/${msgName}: already queued; removed the entry`);
      return { kind: 'cleaned' };
    }
  }

  let entry: DropEntry | undefined;
  let created: string | undefined;
  try {
    // 2. Open both without following anything; check type, links, owner, size.
    entry = await openDropEntry(dir, envName, dropMessageLimit(config));
    const { uid, msg } = entry;
    // One user's burst may not hold up everyone's pickup: the rest waits for the next pass.
    if (!countPending(pass, uid)) return { kind: 'waiting', uid };
    // 3. Re-validate the envelope; identity from fstat.
    const text = await readEnvelopeText(entry);
    const user = loginName(uid);
    const check = validateEnvelope(text, { id, uid, user, size: msg.st.size, domain: config.domain, now, drop: msgName });
    if (!check.ok) throw new DropRefused(check.error);
    // Per-uid quota: the copy below is charged to the spool owner, not to the submitter.
    pass.usage ??= cachedUsage(p, now);
    const usage = await pass.usage;
    const over = overLimit(usage, uid, msg.st.size, pass.limits);
    if (over) throw new DropRefused(over);
    addUsage(usage, uid, msg.st.size); // reserved now: parallel pickups see it

    // 4. Copy into msg/<ID> under the first free candidate id, then commit ctl/<ID>.
    const out = await createQueueFile(p, candidates, msgName);
    created = path.join(p.msg, out.id);
    try {
      await copyChecked(msg.fh, out.fh, msg.st.size);
      await out.fh.sync();
    } finally {
      await out.fh.close();
    }
    // Why: msg/<ID>'s name must be on disk before the control record that points at it.
    await fsyncDir(p.msg);
    const rec = { ...check.rec, id: out.id };
    if (out.id !== id) rec.history = [...rec.history, { time: now, event: 'renamed', detail: `submitted as ${id}` }];
    await writeControl(p, rec);
    created = undefined;
    /* From here on the mail is safe in the queue; removing the entry may be repeated. */
    log.line(
      out.id,
      `${formatReceived(uid, rec.sender)} (${user}, size ${rec.size}, ${rec.recipients.length} recipient(s), picked up from ${INCOMING}/)`,
      'info',
      'pickup',
    );
    // 5. Remove the entry: the envelope first, so a crash leaves at most an orphan message.
    await entry.close();
    await unlinkQuiet(envPath);
    await unlinkQuiet(msgPath);
    return { kind: 'queued', id: out.id };
  } catch (e) {
    if (created) await unlinkQuiet(created);
    if (e instanceof DropRefused) {
      const owner = e.uid ?? entry?.uid;
      log.line(id, `refused ${INCOMING}/${msgName}${owner !== undefined ? ` (uid ${owner})` : ''}: ${e.message}; removed`, 'warning');
      await unlinkQuiet(envPath);
      await unlinkQuiet(msgPath);
      return { kind: 'refused' };
    }
    throw e;
  } finally {
    await entry?.close();
  }
}

/** Create msg/<ID> (O_EXCL) under the first candidate id that is free in msg/ and ctl/. */
async function createQueueFile(p: SpoolPaths, candidates: string[], msgName: string): Promise<{ id: string; fh: fsp.FileHandle }> {
  for (const c of candidates) {
    if (fs.existsSync(path.join(p.ctl, c))) continue;
    try {
      const fh = await fsp.open(path.join(p.msg, c), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
      return { id: c, fh };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new Error(`no free queue id for ${msgName}; will retry`);
}

/**
 * Pick up every committed entry of incoming/ and sweep its orphans. Returns what was done;
 * does nothing when the spool has no drop directory or another pickup is running.
 */
export async function pickupIncoming(p: SpoolPaths, config: Config, log: LineLog, opts: { now?: number; parallel?: number } = {}): Promise<PickupResult> {
  const now = opts.now ?? Date.now();
  const result: PickupResult = { queued: [], refused: 0, swept: 0, waiting: 0 };
  const dir = path.join(p.root, INCOMING);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return result;
    throw e;
  }
  if (names.length === 0) return result;
  const release = await tryLock(p, INCOMING, config.lockStaleMs);
  if (!release) return result; // another runner is picking up right now
  try {
    const envelopes = names.filter((n) => DROP_ENVELOPE_RE.test(n)).sort();
    const pass: PassState = { limits: userLimits(config), pending: new Map() };
    const waiting = new Map<number, number>();
    // Entries are independent: a few at a time, so that their fsyncs share journal commits
    // (one at a time, a burst of cron mail would wait on every fsync in turn).
    let next = 0;
    const worker = async () => {
      while (next < envelopes.length) {
        const n = envelopes[next++]!;
        try {
          const r = await pickupOne(p, dir, n, config, log, now, pass);
          if (r.kind === 'queued') result.queued.push(r.id);
          else if (r.kind === 'refused') result.refused++;
          else if (r.kind === 'waiting') waiting.set(r.uid, (waiting.get(r.uid) ?? 0) + 1);
        } catch (e) {
          log.line(null, `${INCOMING}/${n}: pickup failed (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); will retry`, 'error');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.parallel ?? PICKUP_PARALLEL, envelopes.length)) }, worker));
    result.queued.sort();
    for (const [uid, count] of waiting) {
      log.line(
        null,
        `uid ${uid}: ${count} more entries in ${INCOMING}/ than max_pending_per_user = ${pass.limits.maxPending} in one pickup; they wait for the next`,
        'warning',
      );
    }
    result.waiting = [...waiting.values()].reduce((a, b) => a + b, 0);
    const committed = new Set(envelopes.map((n) => n.slice(0, -4)));
    result.swept = await sweepIncoming(
      p,
      dir,
      names.filter((n) => !DROP_ENVELOPE_RE.test(n) && !committed.has(n)),
      config,
      log,
      now,
      pass,
    );
    await fsyncDir(dir).catch(() => {});
  } finally {
    await release();
  }
  return result;
}
