/**
 * spool/pickup.ts — move committed entries of the drop directory incoming/ into the queue.
 * Runs as the spool's owner (the runner, user `outbox`): at the start of every queue run and
 * whenever incoming/ changes (the daemon watches it). Whatever a submitter wrote is untrusted.
 *
 * For each committed envelope incoming/<ID>.<R>.env (see spool/drop.ts), in this order:
 *   1. Already queued? A control record whose `drop` field names this entry (looked up at the
 *      few ids pickupIds() allows) means a previous pickup crashed after its commit: only
 *      remove the entry. So an entry is never queued twice.
 *   2. lstat both files, then open them O_RDONLY|O_NOFOLLOW|O_NONBLOCK and fstat, and check
 *      the fstat matches the lstat (same inode): a regular file, one link, owned by the same
 *      uid, envelope <= MAX_ENVELOPE_BYTES, message <= max_message_size (or
 *      DEFAULT_DROP_MAX_BYTES when that is 0). Symlinks, hard links, FIFOs, devices, sockets,
 *      directories, oversized, unreadable or foreign-owned entries are refused: logged and
 *      removed, never read through (a device or FIFO is never even opened).
 *      A uid with more than max_pending_per_user entries in this pass: the rest wait (kept).
 *   3. The envelope is parsed and every field re-validated (validateEnvelope: addresses with
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
 * Everything else in incoming/ is swept by sweepIncoming(): by age, type and owner, at most
 * SWEEP_PER_PASS names per pass, resuming where the last pass stopped. Up to PICKUP_PARALLEL
 * entries are handled at once; one pickup at a time per spool (the lock of pseudo-id `incoming`,
 * spool/lock.ts). Never throws for an entry: each problem is one log line.
 * Next: runner (src/runner/queue-run.ts) calls pickupIncoming().
 */
import { passwdEntry } from '../passwd.js';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import type { Config } from '../config/config.js';
import { checkAddress, isAscii } from '../message/address.js';
import { type ControlRecord, FORMAT_VERSION, type RecipientState, checkNotify, makeQueueId, parseControl } from './format.js';
import { type SpoolPaths, fsyncDir, readControl, writeControl } from './spool.js';
import { DEFAULT_DROP_MAX_BYTES, DROP_ENVELOPE_RE, DROP_MESSAGE_RE, INCOMING, MAX_ENVELOPE_BYTES, MAX_RECIPIENTS } from './drop.js';
import { tryLock } from './lock.js';
import { NUL_ERROR, StoredMessageCheck } from '../message/content.js';
import { type UsageTable, type UserLimits, addUsage, overLimit, queueUsage, userLimits } from './usage.js';
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

const ORIGINS = new Set(['sendmail', 'smtp-stdio', 'smtp']);

export type EnvelopeCheck = { ok: true; rec: ControlRecord } | { ok: false; error: string };

function printable(s: unknown, max: number): s is string {
  return typeof s === 'string' && s.length <= max && !/[\x00-\x1f\x7f]/.test(s);
}

/**
 * Re-validate a dropped envelope. Pure. `owner` is the uid and name from fstat and
 * /etc/passwd; `size` the message file's fstat size. Returns a fresh control record holding
 * only known, checked fields (attempts, hold, history, ... are never taken from the submitter).
 */
export function validateEnvelope(
  text: string,
  expect: { id: string; uid: number; user: string; size: number; domain: string; now: number; drop: string },
): EnvelopeCheck {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { ok: false, error: 'envelope is not JSON' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, error: 'envelope is not an object' };
  let parsed: ControlRecord;
  try {
    parsed = parseControl(text);
  } catch (e) {
    return { ok: false, error: `envelope: ${(e as Error).message}` };
  }
  if (parsed.id !== expect.id) return { ok: false, error: `envelope id ${JSON.stringify(raw.id)} does not match the entry name` };
  if (typeof raw.size !== 'number' || raw.size !== expect.size) {
    return { ok: false, error: `envelope size ${JSON.stringify(raw.size)} does not match the message file (${expect.size} bytes)` };
  }
  let sender = '';
  if (parsed.sender !== '') {
    if (parsed.sender.length > 1000) return { ok: false, error: 'bad sender' };
    const c = checkAddress(parsed.sender, expect.domain);
    if (!c.ok) return { ok: false, error: `sender ${c.error}` };
    sender = c.address;
  }
  const rcpts = raw.recipients as Record<string, unknown>[];
  if (rcpts.length > MAX_RECIPIENTS) return { ok: false, error: `more than ${MAX_RECIPIENTS} recipients` };
  const recipients: RecipientState[] = [];
  for (const r of rcpts) {
    if (typeof r !== 'object' || r === null || typeof r.address !== 'string' || r.address.length > 1000) return { ok: false, error: 'bad recipient' };
    const c = checkAddress(r.address, expect.domain);
    if (!c.ok) return { ok: false, error: `recipient ${c.error}` };
    const out: RecipientState = { address: c.address, status: 'pending' };
    if (r.notify !== undefined) {
      const notify = Array.isArray(r.notify) ? checkNotify(r.notify) : null;
      if (!notify) return { ok: false, error: 'bad DSN notify' };
      out.notify = notify;
    }
    if (r.orcpt !== undefined) {
      if (!printable(r.orcpt, 1000)) return { ok: false, error: 'bad DSN orcpt' };
      out.orcpt = r.orcpt;
    }
    recipients.push(out);
  }
  if (raw.ret !== undefined && raw.ret !== 'FULL' && raw.ret !== 'HDRS') return { ok: false, error: 'bad DSN ret' };
  if (raw.envid !== undefined && (typeof raw.envid !== 'string' || raw.envid.length > 100 || /[^\x21-\x7e]/.test(raw.envid))) {
    return { ok: false, error: 'bad DSN envid' };
  }
  if (raw.body !== undefined && raw.body !== '7BIT' && raw.body !== '8BITMIME') return { ok: false, error: 'bad body type' };
  const origin = typeof raw.origin === 'string' && ORIGINS.has(raw.origin) ? raw.origin : 'sendmail';
  if (raw.client !== undefined && !printable(raw.client, 300)) return { ok: false, error: 'bad client' };
  // Arrival: the submitter's clock reading, if plausible (not in the future, not older than a week).
  const arrival = parsed.arrival <= expect.now + 60_000 && parsed.arrival >= expect.now - 7 * 86_400_000 ? parsed.arrival : expect.now;
  const rec: ControlRecord = {
    v: FORMAT_VERSION,
    id: expect.id,
    arrival,
    uid: expect.uid,
    user: expect.user,
    sender,
    recipients,
    ...(raw.ret ? { ret: raw.ret as 'FULL' | 'HDRS' } : {}),
    ...(raw.envid ? { envid: raw.envid as string } : {}),
    body: raw.body === '8BITMIME' ? '8BITMIME' : '7BIT',
    smtputf8: raw.smtputf8 === true || !isAscii(sender) || recipients.some((r) => !isAscii(r.address)),
    size: expect.size,
    origin,
    ...(typeof raw.client === 'string' ? { client: raw.client } : {}),
    attempts: 0,
    nextAttempt: 0,
    hold: false,
    drop: expect.drop,
    history: [{ time: arrival, event: 'queued', detail: `uid=${expect.uid} from=<${sender}> nrcpt=${recipients.length} via ${INCOMING}/` }],
  };
  return { ok: true, rec };
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

/** Login name for a uid, from /etc/passwd; `uid<N>` when there is none (or it is not a plain name). */
export function loginName(uid: number): string {
  const name = passwdEntry(uid)?.name;
  return name && /^[A-Za-z0-9._-]+\$?$/.test(name) ? name : `uid${uid}`;
}

function kindOf(st: fs.Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return 'not a regular file';
}

class Refused extends Error {}

const O_READ = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/** Open a drop file safely: lstat, refuse what is not a plain file, open without following, compare. */
async function openChecked(file: string, maxBytes: number, what: string): Promise<{ fh: fsp.FileHandle; st: fs.Stats }> {
  let lst: fs.Stats;
  try {
    lst = await fsp.lstat(file);
  } catch (e) {
    throw new Refused(`${what}: ${(e as NodeJS.ErrnoException).code ?? 'cannot stat'}`);
  }
  // Why lstat first: a FIFO or a device must not even be opened (open has side effects on some).
  if (!lst.isFile()) throw new Refused(`${what} is ${kindOf(lst)}`);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, O_READ);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Refused(`${what}: ${code === 'ELOOP' ? 'a symbolic link' : (code ?? 'cannot open')}`);
  }
  try {
    const st = await fh.stat();
    if (st.ino !== lst.ino || st.dev !== lst.dev) throw new Refused(`${what} was replaced while being opened`);
    if (!st.isFile()) throw new Refused(`${what} is ${kindOf(st)}`);
    if (st.nlink !== 1) throw new Refused(`${what} has ${st.nlink} links (hard link)`);
    if (st.size > maxBytes) throw new Refused(`${what} is ${st.size} bytes, over the limit of ${maxBytes}`);
    return { fh, st };
  } catch (e) {
    await fh.close().catch(() => {});
    throw e;
  }
}

/** Read at most `max` bytes; more than that is refused (the file grew after fstat). */
async function readBounded(fh: fsp.FileHandle, max: number): Promise<Buffer> {
  const buf = Buffer.alloc(max + 1);
  let off = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, off, buf.length - off, off);
    if (bytesRead === 0) break;
    off += bytesRead;
    if (off > max) throw new Refused('entry grew while being read');
  }
  return buf.subarray(0, off);
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
    if (pos > size) throw new Refused('message grew while being copied');
    const problem = rules.push(buf.subarray(0, bytesRead));
    if (problem) throw new Refused(problem === NUL_ERROR ? `${problem} (or a hole: a sparse file)` : problem);
    let off = 0;
    while (off < bytesRead) off += (await dest.write(buf, off, bytesRead - off)).bytesWritten;
  }
  if (pos !== size) throw new Refused(`message shrank while being copied (${pos} of ${size} bytes)`);
  const problem = rules.end();
  if (problem) throw new Refused(problem);
}

async function unlinkQuiet(file: string): Promise<void> {
  await fsp.unlink(file).catch(() => {});
}

function readRecordAt(p: SpoolPaths, id: string): Promise<ControlRecord | null> {
  return readControl(p, id).catch(() => null);
}

type OneResult = { kind: 'queued'; id: string } | { kind: 'refused' } | { kind: 'cleaned' } | { kind: 'waiting'; uid: number };

/** What one pickup pass knows about each submitter (spool/usage.ts). */
interface PassState {
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
function cachedUsage(p: SpoolPaths, now: number): Promise<UsageTable> {
  const c = usageCache.get(p.root);
  if (c && now - c.at >= 0 && now - c.at < USAGE_TTL_MS) return c.table;
  const table = queueUsage(p);
  usageCache.set(p.root, { at: now, table });
  return table;
}

/** Count one more name of uid in incoming/; false when the uid is over max_pending_per_user. */
function countPending(pass: PassState, uid: number): boolean {
  const n = (pass.pending.get(uid) ?? 0) + 1;
  pass.pending.set(uid, n);
  return !(pass.limits.maxPending > 0 && n > pass.limits.maxPending);
}

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

  const maxMessage = config.maxMessageSize > 0 ? config.maxMessageSize : DEFAULT_DROP_MAX_BYTES;
  let env: { fh: fsp.FileHandle; st: fs.Stats } | undefined;
  let msg: { fh: fsp.FileHandle; st: fs.Stats } | undefined;
  let created: string | undefined;
  try {
    // 2. Open both without following anything; check type, links, owner, size.
    env = await openChecked(envPath, MAX_ENVELOPE_BYTES, 'envelope');
    msg = await openChecked(msgPath, maxMessage, 'message');
    if (env.st.uid !== msg.st.uid) throw new Refused(`envelope (uid ${env.st.uid}) and message (uid ${msg.st.uid}) have different owners`);
    const uid = msg.st.uid;
    // One user's burst may not hold up everyone's pickup: the rest waits for the next pass.
    if (!countPending(pass, uid)) return { kind: 'waiting', uid };
    // 3. Re-validate the envelope; identity from fstat.
    const text = (await readBounded(env.fh, MAX_ENVELOPE_BYTES)).toString('utf8');
    const user = loginName(uid);
    const check = validateEnvelope(text, { id, uid, user, size: msg.st.size, domain: config.domain, now, drop: msgName });
    if (!check.ok) throw new Refused(check.error);
    // Per-uid quota: the copy below is charged to the spool owner, not to the submitter.
    pass.usage ??= cachedUsage(p, now);
    const usage = await pass.usage;
    const over = overLimit(usage, uid, msg.st.size, pass.limits);
    if (over) throw new Refused(over);
    addUsage(usage, uid, msg.st.size); // reserved now: parallel pickups see it

    // 4. Copy into msg/<ID> under the first free candidate id, then commit ctl/<ID>.
    let out: { id: string; fh: fsp.FileHandle } | undefined;
    for (const c of candidates) {
      if (fs.existsSync(path.join(p.ctl, c))) continue;
      try {
        const fh = await fsp.open(path.join(p.msg, c), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
        out = { id: c, fh };
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    if (!out) throw new Error(`no free queue id for ${msgName}; will retry`);
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
    await env.fh.close();
    await msg.fh.close();
    env = msg = undefined;
    await unlinkQuiet(envPath);
    await unlinkQuiet(msgPath);
    return { kind: 'queued', id: out.id };
  } catch (e) {
    if (created) await unlinkQuiet(created);
    if (e instanceof Refused) {
      const owner = env?.st.uid ?? msg?.st.uid;
      log.line(id, `refused ${INCOMING}/${msgName}${owner !== undefined ? ` (uid ${owner})` : ''}: ${e.message}; removed`, 'warning');
      await unlinkQuiet(envPath);
      await unlinkQuiet(msgPath);
      return { kind: 'refused' };
    }
    throw e;
  } finally {
    await env?.fh.close().catch(() => {});
    await msg?.fh.close().catch(() => {});
  }
}

/** Names the sweep looks at per pass: 500,000 junk names must not slow every pickup. */
export const SWEEP_PER_PASS = 10_000;
/** Non-regular junk (directories, FIFOs, sockets, devices, symlinks) is removed after this (or orphan_grace_seconds if shorter). */
const ODD_GRACE_MS = 60_000;
/** Removals logged one by one per pass; the rest are summed up per uid. */
const SWEEP_LOG_LINES = 20;
const DOT_ENVELOPE_RE = /^\.[0-9A-HJKMNP-TV-Z]{12}\.[0-9a-f]{32}\.env$/;
/** Where the sweep resumes (the last name looked at), in run/: losing it only restarts the sweep. */
const SWEEP_CURSOR = 'incoming.sweep';

/**
 * Sweep what is not a committed entry: orphan message files, dot-temps, tokens, and whatever
 * else a user put into incoming/. At most SWEEP_PER_PASS names per pass, in name order, resuming
 * where the last pass stopped. A name is removed when
 *   - its uid has more than max_pending_per_user names in incoming/ (by ownership), unless it
 *     may be an entry being written (a message, a dot-temp envelope, a query token), or
 *   - it is a regular file older than orphan_grace_seconds, or of any other type (directory,
 *     FIFO, socket, device, symlink: sendmail never makes one) older than a minute.
 * Age counts from the older of mtime and ctime: a user can set a file's mtime into the future
 * (touch -d), but its ctime is the time of that change, so such a file ages like any other.
 * Directories are removed with rmdir only (never recursively: a user controls their contents
 * and could swap a subdirectory for a symlink); a non-empty one is reported. Returns the count.
 */
async function sweepIncoming(p: SpoolPaths, dir: string, junk: string[], config: Config, log: LineLog, now: number, pass: PassState): Promise<number> {
  if (junk.length === 0) return 0;
  const cursorFile = path.join(p.run, SWEEP_CURSOR);
  const cursor = await fsp.readFile(cursorFile, 'utf8').catch(() => '');
  junk.sort();
  let from = cursor === '' ? 0 : junk.findIndex((n) => n > cursor);
  if (from < 0) from = 0;
  const batch = junk.slice(from, from + SWEEP_PER_PASS);
  const graceMs = config.orphanGraceSeconds * 1000;
  const oddGraceMs = Math.min(ODD_GRACE_MS, graceMs);
  let swept = 0;
  const more = new Map<number, number>();
  for (const n of batch) {
    const file = path.join(dir, n);
    let st: fs.Stats;
    try {
      st = await fsp.lstat(file);
    } catch {
      continue; // gone already
    }
    const age = now - Math.min(st.mtimeMs, st.ctimeMs);
    const kind = st.isFile() ? null : kindOf(st);
    // A name a submitter may be writing right now (a message, an envelope's dot-temp, a query
    // token) is never removed before its grace period, whatever the count: that would lose mail.
    const inProgress = !kind && (DROP_MESSAGE_RE.test(n) || DOT_ENVELOPE_RE.test(n) || n.startsWith('q.'));
    const overLimit = !countPending(pass, st.uid) && !inProgress;
    if (!overLimit && age < (kind ? oddGraceMs : graceMs)) continue;
    try {
      if (st.isDirectory()) await fsp.rmdir(file);
      else await fsp.unlink(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST')
        log.line(null, `cannot remove ${INCOMING}/${n} (uid ${st.uid}): a directory that is not empty; remove it as root`, 'warning');
      continue;
    }
    swept++;
    if (swept > SWEEP_LOG_LINES) {
      more.set(st.uid, (more.get(st.uid) ?? 0) + 1);
      continue;
    }
    const what = overLimit
      ? `more than max_pending_per_user = ${pass.limits.maxPending} names of this uid`
      : kind
        ? `${kind}, older than ${oddGraceMs / 1000} s`
        : `${DROP_MESSAGE_RE.test(n) ? 'message without envelope' : n.startsWith('.') ? 'unfinished envelope' : 'unknown entry'} older than ${config.orphanGraceSeconds} s`;
    log.line(null, `removed ${INCOMING}/${n} (uid ${st.uid}): ${what}`);
  }
  for (const [uid, count] of more) log.line(null, `removed ${count} more names of uid ${uid} from ${INCOMING}/`);
  const next = from + batch.length >= junk.length ? '' : batch[batch.length - 1]!;
  if (next !== cursor) await fsp.writeFile(cursorFile, next, { mode: 0o600 }).catch(() => {});
  return swept;
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
