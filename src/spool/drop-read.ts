/**
 * spool/drop-read.ts — the one reader of a drop entry (incoming/<ID>.<R> and its envelope
 * incoming/<ID>.<R>.env, written by spool/drop.ts), for pickup (spool/pickup.ts) and the mailq
 * listing of waiting mail (queue/drops.ts).
 *
 * Whatever is in incoming/ was written by any local user, so each file is lstat()ed first (a FIFO
 * or a device is never even opened), then opened O_RDONLY|O_NOFOLLOW|O_NONBLOCK and fstat()ed,
 * and must be the same inode, a regular file with one link, within its size limit
 * (MAX_ENVELOPE_BYTES; max_message_size, or DEFAULT_DROP_MAX_BYTES when that is 0); envelope and
 * message must have the same owner, who is the submitter (from fstat, never from the JSON).
 * An entry that fails a check throws DropRefused with the reason (and the owner, when known);
 * other errors are our own (EMFILE, EIO, ...). The envelope's fields are checked by the caller:
 * spool/envelope.ts validateEnvelope for pickup.
 */
import type * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { constants } from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config/config.js';
import { DEFAULT_DROP_MAX_BYTES, MAX_ENVELOPE_BYTES } from './drop.js';

/** A drop entry fails a check: the reason, and the uid that owns it when that is known. */
export class DropRefused extends Error {
  constructor(
    message: string,
    readonly uid?: number,
  ) {
    super(message);
  }
}

/** The largest message file a drop entry may have. */
export function dropMessageLimit(config: Pick<Config, 'maxMessageSize'>): number {
  return config.maxMessageSize > 0 ? config.maxMessageSize : DEFAULT_DROP_MAX_BYTES;
}

/** What a name in incoming/ is when it is not a regular file. Pure. */
export function kindOf(st: fs.Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return 'not a regular file';
}

const O_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export interface CheckedFile {
  fh: fsp.FileHandle;
  st: fs.Stats;
}

/** Open a drop file safely: lstat, refuse what is not a plain file, open without following, compare. Throws DropRefused without an owner. */
async function openChecked(file: string, maxBytes: number, what: string): Promise<CheckedFile> {
  let lst: fs.Stats;
  try {
    lst = await fsp.lstat(file);
  } catch (e) {
    throw new DropRefused(`${what}: ${(e as NodeJS.ErrnoException).code ?? 'cannot stat'}`);
  }
  // Why lstat first: a FIFO or a device must not even be opened (open has side effects on some).
  if (!lst.isFile()) throw new DropRefused(`${what} is ${kindOf(lst)}`);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, O_READ);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DropRefused(`${what}: ${code === 'ELOOP' ? 'a symbolic link' : (code ?? 'cannot open')}`);
  }
  try {
    const st = await fh.stat();
    if (st.ino !== lst.ino || st.dev !== lst.dev) throw new DropRefused(`${what} was replaced while being opened`);
    if (!st.isFile()) throw new DropRefused(`${what} is ${kindOf(st)}`);
    if (st.nlink !== 1) throw new DropRefused(`${what} has ${st.nlink} links (hard link)`);
    if (st.size > maxBytes) throw new DropRefused(`${what} is ${st.size} bytes, over the limit of ${maxBytes}`);
    return { fh, st };
  } catch (e) {
    await fh.close().catch(() => {});
    throw e;
  }
}

/** An opened drop entry: both files checked; `uid` owns both. close() may be called more than once. */
export interface DropEntry {
  env: CheckedFile;
  msg: CheckedFile;
  uid: number;
  close(): Promise<void>;
}

/**
 * Open the entry whose envelope is `dir/envName` (its message file is the name without ".env").
 * Throws DropRefused when a check fails (nothing stays open then).
 */
export async function openDropEntry(dir: string, envName: string, maxMessage: number): Promise<DropEntry> {
  const env = await openChecked(path.join(dir, envName), MAX_ENVELOPE_BYTES, 'envelope');
  let msg: CheckedFile;
  try {
    msg = await openChecked(path.join(dir, envName.slice(0, -'.env'.length)), maxMessage, 'message');
  } catch (e) {
    await env.fh.close().catch(() => {});
    throw e instanceof DropRefused ? new DropRefused(e.message, env.st.uid) : e;
  }
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await env.fh.close().catch(() => {});
    await msg.fh.close().catch(() => {});
  };
  if (env.st.uid !== msg.st.uid) {
    await close();
    throw new DropRefused(`envelope (uid ${env.st.uid}) and message (uid ${msg.st.uid}) have different owners`, env.st.uid);
  }
  return { env, msg, uid: msg.st.uid, close };
}

/** The envelope's text: at most MAX_ENVELOPE_BYTES; more (it grew after fstat) is refused. */
export async function readEnvelopeText(entry: DropEntry): Promise<string> {
  const max = MAX_ENVELOPE_BYTES;
  const buf = Buffer.alloc(Math.min(max, entry.env.st.size) + 1);
  let off = 0;
  for (;;) {
    if (off === buf.length) throw new DropRefused('entry grew while being read', entry.uid);
    const { bytesRead } = await entry.env.fh.read(buf, off, buf.length - off, off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return buf.toString('utf8', 0, off);
}
