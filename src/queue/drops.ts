/**
 * queue/drops.ts — the messages waiting in the system spool's incoming/ (committed by a
 * submitter, not yet picked up into the queue), as mailq entries.
 *
 * Without a running daemon a drop waits there until the next queue run or `outbox pickup`;
 * it is mail all the same, so mailq lists it (Postfix lists its maildrop queue too), marked
 * "waiting in incoming/". Only root and the spool owner can list incoming/ (mode 1733); the
 * daemon answering a user's query shows that user the drops they own.
 *
 * Nothing in incoming/ is trusted (it is written by any local user; see spool/pickup.ts): only
 * regular files with one link are read, with O_NOFOLLOW|O_NONBLOCK and a size limit; the owner
 * comes from fstat, never from the JSON; the size is the message file's; no state field of the
 * envelope is kept; control characters in the addresses are shown as '?' (no terminal escapes).
 * Never throws: what cannot be read is simply not listed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ControlRecord, parseControl } from '../spool/format.js';
import { DROP_ENVELOPE_RE, INCOMING, MAX_ENVELOPE_BYTES } from '../spool/drop.js';

const O_READ = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/** Printable for a terminal: C0/C1 controls and DEL become '?'. Pure. */
export function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}

function readEnvelope(file: string): { text: string; uid: number } | null {
  let fd: number;
  try {
    fd = fs.openSync(file, O_READ);
  } catch {
    return null;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.nlink !== 1 || st.size > MAX_ENVELOPE_BYTES) return null;
    const buf = Buffer.alloc(st.size);
    const n = fs.readSync(fd, buf, 0, st.size, 0);
    return { text: buf.toString('utf8', 0, n), uid: st.uid };
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Committed drops of `spool`, oldest first, as clean records: id, arrival, sender, pending
 * recipients, size of the message file, uid of the envelope's owner. [] when incoming/ cannot
 * be listed (no such directory, or not root / the spool owner).
 */
export function pendingDrops(spool: string): ControlRecord[] {
  const dir = path.join(spool, INCOMING);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: ControlRecord[] = [];
  for (const name of names.sort()) {
    const m = DROP_ENVELOPE_RE.exec(name);
    if (!m) continue;
    const env = readEnvelope(path.join(dir, name));
    if (!env) continue;
    let size: number;
    try {
      const st = fs.lstatSync(path.join(dir, name.slice(0, -'.env'.length)));
      if (!st.isFile() || st.uid !== env.uid) continue;
      size = st.size;
    } catch {
      continue; // picked up meanwhile
    }
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
          size,
          uid: env.uid,
        }),
      ),
    );
  }
  return out;
}
