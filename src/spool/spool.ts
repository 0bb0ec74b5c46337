/**
 * spool/spool.ts — the spool's I/O: create, commit, read, replace and remove messages.
 *
 * The format and layout are documented in spool/format.ts. The durability rules, in order:
 *   1. msg/<ID> is created with O_EXCL (this also makes the id unique), written, fsync'd,
 *      and the msg/ directory fsync'd, so the bytes and their name are on disk;
 *   2. the control record is written to tmp/ and fsync'd (concurrently with step 1's fsyncs:
 *      they are independent), renamed to ctl/<ID> once both are done, and ctl/ fsync'd.
 * Step 2's rename is the commit point; nothing is visible to readers before it.
 * Errors are Node errno errors (ENOSPC, EACCES, ...); callers map them with exitCodeOf().
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ControlRecord, isQueueId, makeQueueId, parseControl, serializeControl } from './format.js';
import { type OpenFile, lstat, openFile, readText, readdir, rename, unlink, writeAll } from './file.js';

export interface SpoolPaths {
  root: string;
  tmp: string;
  msg: string;
  ctl: string;
  lock: string;
  run: string;
}

export function spoolPaths(root: string): SpoolPaths {
  return {
    root,
    tmp: path.join(root, 'tmp'),
    msg: path.join(root, 'msg'),
    ctl: path.join(root, 'ctl'),
    lock: path.join(root, 'lock'),
    run: path.join(root, 'run'),
  };
}

/**
 * Create the spool's directories if missing (mode 0700: only the owner reads queued mail).
 * The system-wide spool is created by scripts/package/install.sh with its own owners and modes; this
 * never changes the mode of a directory that already exists.
 */
export function ensureSpool(root: string): SpoolPaths {
  const p = spoolPaths(root);
  for (const dir of [p.root, p.tmp, p.msg, p.ctl, p.lock, p.run]) {
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        else throw e;
      }
    }
  }
  return p;
}

/** The spool's owner (uid), or null when it does not exist. */
export function spoolOwner(root: string): number | null {
  try {
    return fs.statSync(root).uid;
  } catch {
    return null;
  }
}

/** fsync a directory, so that names created or renamed in it survive a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await openFile(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

// Why not node:crypto: loading it costs every sendmail call several milliseconds, and these
// values need to be unlikely to collide, not secret (O_EXCL catches the rare collision).
function random32(): () => number {
  return () => Math.floor(Math.random() * 32);
}

let counter = 0;
/** A short string unique to this process and call: pid, counter and 32 random bits, hex. */
export function uniqueSuffix(): string {
  counter++;
  return `${process.pid.toString(16)}${counter.toString(16)}${Math.floor(Math.random() * 0x100000000)
    .toString(16)
    .padStart(8, '0')}`;
}

export interface NewMessageFile {
  id: string;
  path: string;
  fh: OpenFile;
}

/** Create msg/<ID> exclusively for a new message; retries with a new id on a collision. */
export async function createMessageFile(p: SpoolPaths, now = Date.now()): Promise<NewMessageFile> {
  for (let attempt = 0; ; attempt++) {
    const id = makeQueueId(now, random32());
    const file = path.join(p.msg, id);
    try {
      const fh = await openFile(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
      return { id, path: file, fh };
    } catch (e) {
      // Same millisecond and same 15 random bits as another writer: take another id.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 100) throw e;
    }
  }
}

/**
 * Write `data` to a temp file, fsync it and rename it to `dest`, then fsync dest's directory.
 * `before`: what else must be durable before the rename (a new message's bytes and name); it runs
 * concurrently with the temp file's write and fsync, and the rename waits for both.
 */
export async function writeFileDurable(p: SpoolPaths, dest: string, data: string | Buffer, before?: Promise<unknown>): Promise<void> {
  const tmp = path.join(p.tmp, `${path.basename(dest)}.${uniqueSuffix()}`);
  const [written, ready] = await Promise.allSettled([writeSynced(tmp, data), before]);
  const failed = written.status === 'rejected' ? written : ready.status === 'rejected' ? ready : null;
  if (failed) {
    if (written.status === 'fulfilled') await unlink(tmp).catch(() => {});
    throw failed.reason;
  }
  try {
    await rename(tmp, dest);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  // Why: the rename is only durable once the directory holding the new name is on disk.
  await fsyncDir(path.dirname(dest));
}

/** Create `file` (O_EXCL, 0600), write `data`, fsync and close it; removed again on failure. */
async function writeSynced(file: string, data: string | Buffer): Promise<void> {
  const fh = await openFile(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    await writeAll(fh, data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(file).catch(() => {});
    throw e;
  }
  await fh.close();
}

/** fsync a file just written, then close it (on a failed fsync it stays open: the caller closes). */
export async function syncAndClose(fh: OpenFile): Promise<void> {
  await fh.sync();
  await fh.close();
}

/** Commit (or replace) a control record. For a new message this is the commit point. */
export async function writeControl(p: SpoolPaths, rec: ControlRecord, before?: Promise<unknown>): Promise<void> {
  await writeFileDurable(p, path.join(p.ctl, rec.id), serializeControl(rec), before);
}

export async function readControl(p: SpoolPaths, id: string): Promise<ControlRecord> {
  return parseControl(await readText(path.join(p.ctl, id)));
}

/**
 * The same, synchronously: for a small file one call instead of four thread-pool round trips
 * (open, stat, read, close), which is most of the CPU a flush spends per message.
 */
export function readControlSync(p: SpoolPaths, id: string): ControlRecord {
  return parseControl(fs.readFileSync(path.join(p.ctl, id), 'utf8'));
}

/** What controlReader() found for an id: the record, or why there is none. */
export type ControlRead = ControlRecord | 'gone' | 'denied' | 'corrupt';

/**
 * A reader for many control records in a row (mailq of 100,000 messages): one open/read/close
 * per record into one reused buffer (readFileSync also fstat()s and allocates per call: half the
 * listing's time). Records larger than the buffer are read whole the slow way. Never throws:
 * 'gone' (removed meanwhile: delivered), 'denied' (EACCES/EPERM: another user's record),
 * 'corrupt' (not a control record this version reads).
 */
export function controlReader(p: SpoolPaths, bufBytes = 64 * 1024): (id: string) => ControlRead {
  const buf = Buffer.allocUnsafe(bufBytes);
  return (id) => {
    let fd: number;
    try {
      fd = fs.openSync(path.join(p.ctl, id), 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return code === 'EACCES' || code === 'EPERM' ? 'denied' : 'gone';
    }
    let text: string;
    try {
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      text = n < buf.length ? buf.toString('utf8', 0, n) : fs.readFileSync(fd, 'utf8');
    } catch {
      return 'gone';
    } finally {
      fs.closeSync(fd);
    }
    try {
      return parseControl(text);
    } catch {
      return 'corrupt';
    }
  };
}

export function messagePath(p: SpoolPaths, id: string): string {
  return path.join(p.msg, id);
}

/** Ids of committed messages, in arrival order. */
export async function listIds(p: SpoolPaths): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(p.ctl);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.filter(isQueueId).sort();
}

/**
 * Remove a message: the control record first (un-commit), then the bytes. No fsync, as Postfix
 * does not fsync its removals: a removal that a power cut takes back means the message is
 * delivered once more (a duplicate), never lost; the saved fsync per delivered message is a
 * large part of a flush's cost.
 */
export async function removeMessage(p: SpoolPaths, id: string): Promise<void> {
  await unlink(path.join(p.ctl, id)).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
  await unlink(path.join(p.msg, id)).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
}

/**
 * Sweep what a killed writer left behind: temp files, and message bytes without a control
 * record, older than `graceMs`. Returns the names removed.
 */
export async function sweepOrphans(p: SpoolPaths, graceMs: number, now = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  const committed = new Set(await listIds(p));
  const sweep = async (dir: string, keep: (name: string) => boolean) => {
    let names: string[] = [];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (keep(name)) continue;
      const file = path.join(dir, name);
      try {
        const st = await lstat(file);
        if (now - st.mtimeMs < graceMs) continue;
        await unlink(file);
        removed.push(path.relative(p.root, file));
      } catch {
        // Gone already, or not ours to remove: leave it.
      }
    }
  };
  await sweep(p.tmp, () => false);
  await sweep(p.msg, (name) => committed.has(name));
  return removed;
}

/**
 * Ids whose lock directory (lock/<ID>.lock, made by spool/lock.ts) exists: held, or stale and
 * not yet taken over. One readdir, so mailq can mark active messages without a stat per message.
 */
export async function lockedIds(p: SpoolPaths): Promise<Set<string>> {
  try {
    const names = await readdir(p.lock);
    return new Set(names.filter((n) => n.endsWith('.lock')).map((n) => n.slice(0, -5)));
  } catch {
    return new Set();
  }
}
