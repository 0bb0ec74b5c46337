/**
 * spool/format.ts — the on-disk format of the spool, version 1. Pure: no I/O here.
 *
 * Layout of a spool directory (system-wide /var/spool/outbox, or a per-user one):
 *
 *   tmp/         temp files of writers; same filesystem as the rest, so rename(2) is atomic.
 *                Anything here older than the orphan grace period is swept by the runner.
 *   msg/<ID>     the message bytes, written once and never changed (immutable).
 *   ctl/<ID>     the control record (below). Its rename into ctl/ is the COMMIT POINT: a message
 *                exists only once ctl/<ID> exists. Readers list ctl/ only. msg/<ID> without
 *                ctl/<ID> is an uncommitted or abandoned write, swept after the grace period.
 *   lock/<ID>.lock   proper-lockfile lock of a message (src/spool/lock.ts), held while a process
 *                changes or delivers it. Stale locks (holder dead) are taken over.
 *   run/         the daemon's pid file (src/spool/pidfile.ts) and query socket (src/queue/query.ts),
 *                the relays' sending-limit state (src/runner/limits.ts), the sweep's cursor (sweep.ts).
 *   incoming/    system spool only: the drop directory where users other than the spool's owner
 *                submit (mode 1733); the runner moves entries into msg/ + ctl/. Entry format:
 *                src/spool/drop.ts; the checks: src/spool/pickup.ts (the files: drop-read.ts;
 *                the fields: envelope.ts).
 *
 * Stored message form: exactly the caller's bytes, except that every CRLF is stored as LF (a
 * lone CR is kept), the message always ends with LF, and header fix-ups are inserted as raw lines
 * (see src/message/headers.ts). Delivery turns LF back into CRLF on the wire.
 *
 * Control record: one JSON object (UTF-8). Required fields: `v` (=1), `id`, `arrival`, `sender`,
 * `recipients` (non-empty). Optional fields have the defaults shown in `parseControl`. Unknown
 * fields are ignored and kept when the record is rewritten, so a newer version can add fields that
 * an older runner passes through. A record with a larger `v` is refused (left alone, reported).
 * Records are replaced, never edited in place: write tmp/, fsync, rename over ctl/<ID>.
 *
 * Queue IDs: 12 characters of Crockford base32, 9 for the arrival time in milliseconds and 3
 * random; they sort by arrival time. Uniqueness is enforced by O_EXCL creation of msg/<ID>.
 */

export const FORMAT_VERSION = 1;

export type RecipientStatus = 'pending' | 'deferred' | 'sent' | 'failed';

export interface RecipientState {
  /** The address to deliver to (after qualification / aliasing). */
  address: string;
  /** The address as the caller gave it, when it differs (for DSN Original-Recipient). */
  original?: string;
  /** RFC 3461 NOTIFY for this recipient, from -N or RCPT NOTIFY=. */
  notify?: string[];
  /** RFC 3461 ORCPT, from RCPT ORCPT= (already xtext-decoded, "rfc822;addr"). */
  orcpt?: string;
  status: RecipientStatus;
  /** Last reply or error for this recipient (never holds credentials). */
  reason?: string;
  /** Enhanced status code of the last outcome, e.g. 2.0.0, 4.4.1, 5.1.1. */
  dsn?: string;
  /** Relay that gave the outcome, host[ip]:port. */
  relay?: string;
  /** A configuration problem of this host keeps this recipient (runner/classify.ts): what to fix. */
  fix?: string;
  /** ...and its cause in a few words, the key mailq and `outbox check --queue` group by. */
  cause?: string;
  updated?: number;
}

export interface HistoryEntry {
  time: number;
  event: string;
  detail?: string;
}

export interface ControlRecord {
  v: number;
  id: string;
  /** Arrival time, ms since the epoch. */
  arrival: number;
  /** Submitting uid and login name. */
  uid: number;
  user: string;
  /** Envelope sender; '' is the null sender <>. */
  sender: string;
  recipients: RecipientState[];
  /** RFC 3461 RET and ENVID. */
  ret?: 'FULL' | 'HDRS';
  envid?: string;
  body: '7BIT' | '8BITMIME';
  /** true when an envelope address is not ASCII (needs SMTPUTF8). */
  smtputf8: boolean;
  /** Size of msg/<ID> in bytes. */
  size: number;
  /** How it arrived: 'sendmail' (command line), 'smtp-stdio' (-bs), 'smtp' (listener). */
  origin: string;
  /** Client for SMTP origins, host[ip]. */
  client?: string;
  /** Number of delivery attempts so far. */
  attempts: number;
  /** Earliest next attempt, ms since the epoch; 0 = due now. */
  nextAttempt: number;
  /** Last error, for mailq. */
  lastError?: string;
  /** Held messages are never delivered until released. */
  hold: boolean;
  /** A delay warning was sent already. */
  warned?: boolean;
  /** Held for a configuration problem since (ms): that time does not count towards max_queue_lifetime. */
  configSince?: number;
  /** Time (ms) held for configuration problems in spans that have ended. */
  configMs?: number;
  /** Fingerprint of the configuration that refused it (runner/config-tag.ts): a new one makes it due at once. */
  configTag?: string;
  /** An undeliverable bounce that was sent on to the postmaster (never twice). */
  postmaster?: string;
  /** This message is a bounce (DSN) generated by Outbox. */
  bounce?: boolean;
  /** Bounded log of what happened, newest last. */
  history: HistoryEntry[];
  /** The incoming/ entry name this message was picked up from (so it is never queued twice). */
  drop?: string;
  [unknown: string]: unknown;
}

export const MAX_HISTORY = 50;

const ID_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A queue id for a message arriving at `nowMs`; `random` supplies 3 values in [0, 32). */
export function makeQueueId(nowMs: number, random: () => number): string {
  let t = Math.floor(nowMs);
  let time = '';
  for (let i = 0; i < 9; i++) {
    time = ID_ALPHABET[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  let rnd = '';
  for (let i = 0; i < 3; i++) rnd += ID_ALPHABET[random() & 31]!;
  return time + rnd;
}

export function isQueueId(name: string): boolean {
  return /^[0-9A-HJKMNP-TV-Z]{12}$/.test(name);
}

export function serializeControl(rec: ControlRecord): string {
  return JSON.stringify(rec) + '\n';
}

export class ControlFormatError extends Error {}

/** Parse a control record; throws ControlFormatError when required fields are missing. */
export function parseControl(text: string): ControlRecord {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new ControlFormatError(`not JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null) throw new ControlFormatError('not an object');
  if (typeof raw.v !== 'number' || raw.v < 1) throw new ControlFormatError('missing version');
  if (raw.v > FORMAT_VERSION) throw new ControlFormatError(`version ${raw.v} is newer than this program (${FORMAT_VERSION})`);
  if (typeof raw.id !== 'string' || !isQueueId(raw.id)) throw new ControlFormatError('missing or bad id');
  if (typeof raw.arrival !== 'number') throw new ControlFormatError('missing arrival');
  if (typeof raw.sender !== 'string') throw new ControlFormatError('missing sender');
  if (!Array.isArray(raw.recipients) || raw.recipients.length === 0) throw new ControlFormatError('no recipients');
  // Defaults are filled in on the freshly parsed object itself, not on a copy: mailq and the
  // runner parse every control record of a 100,000-message queue, and copies cost a third of it.
  for (const r of raw.recipients as Record<string, unknown>[]) {
    if (typeof r?.address !== 'string') throw new ControlFormatError('recipient without address');
    if (r.status == null) r.status = 'pending';
  }
  const rec = raw as Record<string, unknown>;
  if (typeof rec.uid !== 'number') rec.uid = -1;
  if (typeof rec.user !== 'string') rec.user = '';
  if (rec.body !== '8BITMIME') rec.body = '7BIT';
  if (rec.smtputf8 !== true) rec.smtputf8 = false;
  if (typeof rec.size !== 'number') rec.size = 0;
  if (typeof rec.origin !== 'string') rec.origin = 'sendmail';
  if (typeof rec.attempts !== 'number') rec.attempts = 0;
  if (typeof rec.nextAttempt !== 'number') rec.nextAttempt = 0;
  if (rec.hold !== true) rec.hold = false;
  if (!Array.isArray(rec.history)) rec.history = [];
  return rec as ControlRecord;
}

/** Append to the history, keeping it bounded (the oldest entries go first). */
export function withHistory(rec: ControlRecord, entry: HistoryEntry): ControlRecord {
  const history = [...rec.history, entry];
  return { ...rec, history: history.slice(Math.max(0, history.length - MAX_HISTORY)) };
}

/** Recipients still to be delivered. */
export function pendingRecipients(rec: ControlRecord): RecipientState[] {
  return rec.recipients.filter((r) => r.status === 'pending' || r.status === 'deferred');
}
