/**
 * queue/drops.ts — the messages waiting in the system spool's incoming/ (committed by a
 * submitter, not yet picked up into the queue), as mailq entries.
 *
 * Without a running daemon a drop waits there until the next queue run or `outbox pickup`;
 * it is mail all the same, so mailq lists it (Postfix lists its maildrop queue too), marked
 * "waiting in incoming/". Only root and the spool owner can list incoming/ (mode 1733); the
 * daemon answering a user's query shows that user the drops they own.
 *
 * Nothing in incoming/ is trusted (it is written by any local user): entries are read by pickup's
 * own reader (spool/drop-read.ts: regular files with one link, O_NOFOLLOW|O_NONBLOCK, size limits,
 * one owner), so what pickup would refuse is not listed; the owner comes from fstat, never from
 * the JSON; the size is the message file's; no state field of the envelope is kept; control
 * characters in the addresses are shown as '?' (no terminal escapes).
 * Never throws: what cannot be read is simply not listed.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Config } from '../config/config.js';
import { type ControlRecord, parseControl } from '../spool/format.js';
import { DROP_ENVELOPE_RE, INCOMING } from '../spool/drop.js';
import { type DropEntry, dropMessageLimit, openDropEntry, readEnvelopeText } from '../spool/drop-read.js';

/** Printable for a terminal: C0/C1 controls and DEL become '?'. Pure. */
export function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}

/** An entry's envelope text, owner and message size, read as pickup reads it; null when pickup would refuse it. */
async function readEntry(dir: string, envName: string, maxMessage: number): Promise<{ text: string; uid: number; size: number } | null> {
  let entry: DropEntry;
  try {
    entry = await openDropEntry(dir, envName, maxMessage);
  } catch {
    return null; // refused, or picked up meanwhile
  }
  try {
    return { text: await readEnvelopeText(entry), uid: entry.uid, size: entry.msg.st.size };
  } catch {
    return null;
  } finally {
    await entry.close();
  }
}

/**
 * Committed drops of the spool, oldest first, as clean records: id, arrival, sender, pending
 * recipients, size of the message file, uid of the envelope's owner. [] when incoming/ cannot
 * be listed (no such directory, or not root / the spool owner).
 */
export async function pendingDrops(config: Pick<Config, 'spool' | 'maxMessageSize'>): Promise<ControlRecord[]> {
  const dir = path.join(config.spool, INCOMING);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const out: ControlRecord[] = [];
  for (const name of names.sort()) {
    const m = DROP_ENVELOPE_RE.exec(name);
    if (!m) continue;
    const env = await readEntry(dir, name, dropMessageLimit(config));
    if (!env) continue;
    let rec: ControlRecord;
    try {
      rec = parseControl(env.text);
    } catch {
      continue;
    }
    out.push(
      parseControl(
        JSON.stringify({
          v: 1,
          id: m[1],
          arrival: rec.arrival,
          sender: printable(rec.sender),
          recipients: rec.recipients.map((r) => ({ address: printable(r.address), status: 'pending' })),
          size: env.size,
          uid: env.uid,
        }),
      ),
    );
  }
  return out;
}
