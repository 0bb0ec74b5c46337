/**
 * commands/migrate-spool.ts — `outbox migrate-spool [-C FILE] [--from DIR]`: move the messages of
 * a user's private spool (~/.local/state/outbox, from before the machine had a system
 * installation) into the system queue, through the normal submission path.
 *
 * For each queued message of the private spool, under its lock: the stored bytes are copied
 * unchanged into a new submission (spool/drop.ts: the drop directory for an ordinary user, as
 * any `sendmail` of theirs), with the envelope intact (sender, the recipients still to be
 * delivered with their DSN options, RET/ENVID, body type, SMTPUTF8, arrival time); the new
 * entry is committed, and only then is the private copy removed. A crash in between leaves the
 * message in both places (sent twice at worst, never lost). The queue's own state (attempts,
 * schedule, last error) does not carry over: the system queue tries it afresh. Messages on hold
 * stay where they are (moving would release them): the output says how to release them.
 *
 * Output: one line per message (`1M815A0FX6KD: moved to the system queue as 1M8G8WP9EC3Z`).
 * Exit: 0 every message moved (or nothing to move); 75 some could not be (locked, unreadable:
 * run it again); 64 bad usage, or there is no system spool (without /etc/outbox/outbox.conf
 * the private spool is the queue).
 */
import * as fs from 'node:fs';
import type { Io } from '../io.js';
import { currentUser } from '../passwd.js';
import { loadConfig, userSpoolDir } from '../config/config.js';
import { parseForm, value } from '../cli/args.js';
import { EX_OK, EX_TEMPFAIL, EX_USAGE, OutboxError } from '../sysexits.js';
import { FORMAT_VERSION, type ControlRecord, pendingRecipients } from '../spool/format.js';
import { listIds, messagePath, readControl, removeMessage, spoolPaths, type SpoolPaths } from '../spool/spool.js';
import { tryLock } from '../spool/lock.js';
import { submitTarget, type SubmitTarget } from '../spool/drop.js';
import * as path from 'node:path';

/** The new submission's record: the envelope of `rec`, none of its queue state. Pure. */
export function migratedRecord(
  rec: ControlRecord,
  id: string,
  size: number,
  submitter: { uid: number; name: string },
  from: string,
  now: number,
): ControlRecord {
  const recipients = pendingRecipients(rec).map((r) => ({
    address: r.address,
    status: 'pending' as const,
    ...(r.original !== undefined ? { original: r.original } : {}),
    ...(r.notify !== undefined ? { notify: r.notify } : {}),
    ...(r.orcpt !== undefined ? { orcpt: r.orcpt } : {}),
  }));
  return {
    v: FORMAT_VERSION,
    id,
    arrival: rec.arrival,
    uid: submitter.uid,
    user: submitter.name,
    sender: rec.sender,
    recipients,
    ...(rec.ret ? { ret: rec.ret } : {}),
    ...(rec.envid ? { envid: rec.envid } : {}),
    body: rec.body,
    smtputf8: rec.smtputf8,
    size,
    origin: rec.origin,
    attempts: 0,
    nextAttempt: 0,
    hold: false,
    history: [{ time: now, event: 'queued', detail: `moved from ${from} (queued there as ${rec.id})` }],
  };
}

/** Copy one message into `target` and commit it; returns the new id. */
async function resubmit(p: SpoolPaths, rec: ControlRecord, target: SubmitTarget, submitter: { uid: number; name: string }, from: string): Promise<string> {
  const file = await target.create(rec.arrival);
  let committed = false;
  try {
    const bytes = await fs.promises.readFile(messagePath(p, rec.id));
    let off = 0;
    while (off < bytes.length) off += (await file.fh.write(bytes, off, bytes.length - off)).bytesWritten;
    await target.commit(file, migratedRecord(rec, file.id, bytes.length, submitter, from, Date.now()));
    committed = true;
    return file.id;
  } finally {
    if (!committed) {
      await file.fh.close().catch(() => {});
      await fs.promises.unlink(file.path).catch(() => {});
    }
  }
}

export async function command(args: string[], io: Io): Promise<number> {
  const a = parseForm('migrate-spool', args);
  const from = value(a, 'from');
  const configFile = a.configFile;
  const config = loadConfig(configFile !== undefined ? { file: configFile } : {});
  if (!config.system) {
    throw new OutboxError(EX_USAGE, `migrate-spool: there is no system queue to move into (no /etc/outbox/outbox.conf): ${config.spool} is the queue`);
  }
  const own = from ?? userSpoolDir(process.env);
  if (!own) throw new OutboxError(EX_USAGE, 'migrate-spool: no private spool here (no home directory); name it with --from DIR');
  const dir = path.resolve(own);
  if (dir === path.resolve(config.spool)) throw new OutboxError(EX_USAGE, `migrate-spool: ${dir} is the system queue itself`);
  const p = spoolPaths(dir);
  let ids: string[];
  try {
    ids = await listIds(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    ids = [];
  }
  const submitter = currentUser();
  const target = submitTarget(config);
  let status = EX_OK;
  let moved = 0;
  for (const id of ids) {
    const release = await tryLock(p, id, config.lockStaleMs).catch(() => null);
    if (!release) {
      io.stderr.write(`outbox migrate-spool: ${id}: being delivered or changed (locked); run it again\n`);
      status = EX_TEMPFAIL;
      continue;
    }
    try {
      const rec = await readControl(p, id);
      if (pendingRecipients(rec).length === 0) continue;
      if (rec.hold) {
        io.stdout.write(`${id}: on hold, not moved (release it first: OUTBOX_SPOOL=${dir} outbox queue release ${id})\n`);
        continue;
      }
      const newId = await resubmit(p, rec, target, submitter, dir);
      /* Committed in the system queue: only now remove the private copy. */
      moved++;
      io.stdout.write(`${id}: moved to the system queue as ${newId}\n`);
      await removeMessage(p, id).catch((e: Error) => {
        io.stderr.write(
          `outbox migrate-spool: ${id}: moved, but the private copy could not be removed (${e.message}): remove ${messagePath(p, id)} and its control record by hand, or it is moved again\n`,
        );
        status = EX_TEMPFAIL;
      });
    } catch (e) {
      io.stderr.write(`outbox migrate-spool: ${id}: not moved: ${(e as Error).message}\n`);
      status = EX_TEMPFAIL;
    } finally {
      await release();
    }
  }
  io.stdout.write(`${moved} message${moved === 1 ? '' : 's'} moved from ${dir} to ${config.spool}\n`);
  return status;
}
