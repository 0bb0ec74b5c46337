/**
 * spool/sweep.ts — removing what is not a committed entry from the drop directory incoming/:
 * orphan message files, unfinished envelopes, query proofs left behind, and whatever else a
 * user put there (pickup, spool/pickup.ts, calls it once per pass). Rules: sweepIncoming().
 */
import type * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Config } from '../config/config.js';
import type { LineLog } from '../log/log.js';
import { DROP_MESSAGE_RE, INCOMING } from './drop.js';
import { kindOf } from './drop-read.js';
import type { SpoolPaths } from './spool.js';
import { type PassState, countPending } from './usage.js';

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
export async function sweepIncoming(p: SpoolPaths, dir: string, junk: string[], config: Config, log: LineLog, now: number, pass: PassState): Promise<number> {
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
