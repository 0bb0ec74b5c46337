/**
 * spool/drop.ts — where a submission is written: into the queue itself, or into the drop
 * directory `incoming/` of the system spool. One submit path (src/submit/submit.ts) writes
 * through a SubmitTarget; only the two small functions at the end of a commit differ.
 *
 *   queue target  msg/<ID> (O_EXCL, 0600), fsync, fsync msg/; meanwhile the control record to
 *                 tmp/, fsync; once all three are done, rename to ctl/<ID> (the commit point),
 *                 fsync ctl/. Used by the spool owner (the `outbox` user on the system spool,
 *                 every user on a per-user spool).
 *   drop target   incoming/<ID>.<R> (O_EXCL|O_NOFOLLOW, mode 0644), fsync; meanwhile the
 *                 envelope (the control record's fields the submitter knows, JSON) to the
 *                 dot-temp incoming/.<ID>.<R>.env, fsync; once both are done, rename to
 *                 incoming/<ID>.<R>.env (the commit point), fsync it again (see commit() for
 *                 why not the directory). <R> is 128 random bits from /dev/urandom, hex: incoming/ is mode 1733 (anyone may create, nobody but its
 *                 owner may list, nobody may remove another's entries), so other users cannot
 *                 find, read or replace an entry. Used by everyone else on the system spool,
 *                 root included (files root creates in msg/ would be unreadable for `outbox`).
 *                 The runner moves committed entries into the queue: src/spool/pickup.ts.
 *
 * usesDropDirectory() is the decision rule, in one place. Errors are Node errno errors (EACCES,
 * ENOSPC, ...), which the caller maps with exitCodeOf(), or OutboxError(EX_DATAERR) for an entry
 * over the limits the runner enforces (so the submitter learns it, not a log file). Next: spool/pickup.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config/config.js';
import { EX_DATAERR, OutboxError } from '../sysexits.js';
import { type ControlRecord, makeQueueId, serializeControl } from './format.js';
import { type NewMessageFile, createMessageFile, ensureSpool, fsyncDir, spoolOwner, syncAndClose, writeControl } from './spool.js';
import { type OpenFile, openFile, rename, unlink, writeAll } from './file.js';

export const INCOMING = 'incoming';
/** Limits of a drop entry; the runner refuses more (spool/pickup.ts), so the submitter is told. */
export const MAX_ENVELOPE_BYTES = 1024 * 1024;
/** Largest dropped message when max_message_size is 0. */
export const DEFAULT_DROP_MAX_BYTES = 512 * 1024 * 1024;
export const MAX_RECIPIENTS = 10_000;

/** A drop entry's message name: <ID>.<32 hex>; its envelope adds ".env". */
export const DROP_MESSAGE_RE = /^([0-9A-HJKMNP-TV-Z]{12})\.([0-9a-f]{32})$/;
export const DROP_ENVELOPE_RE = /^([0-9A-HJKMNP-TV-Z]{12})\.([0-9a-f]{32})\.env$/;

export interface SubmitTarget {
  kind: 'queue' | 'drop';
  /** Largest message this target takes when max_message_size is 0 (no limit: undefined). */
  maxBytes?: number;
  /** Create the message file exclusively; the id is allocated here. */
  create(arrival: number): Promise<NewMessageFile>;
  /**
   * The message file is written and still open: make it durable (fsync, close file.fh), then the
   * message visible. Exit 0 may follow only once this resolves.
   */
  commit(file: NewMessageFile, record: ControlRecord): Promise<void>;
}

/**
 * The decision rule: write into incoming/ when this is the system spool, it has a drop
 * directory, and we are not the spool's owner.
 */
export function usesDropDirectory(config: Pick<Config, 'system' | 'spool'>, uid = process.getuid ? process.getuid() : 0): boolean {
  if (!config.system) return false;
  const owner = spoolOwner(config.spool);
  if (owner === null || owner === uid) return false;
  try {
    return fs.lstatSync(path.join(config.spool, INCOMING)).isDirectory();
  } catch {
    return false;
  }
}

/** 128 unguessable bits, hex. Why /dev/urandom and not node:crypto: start-up cost of the submit path. */
export function randomHex128(): string {
  const buf = Buffer.alloc(16);
  const fd = fs.openSync('/dev/urandom', 'r');
  try {
    let off = 0;
    while (off < buf.length) {
      const n = fs.readSync(fd, buf, off, buf.length - off, null);
      if (n <= 0) throw new Error('/dev/urandom: short read');
      off += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return buf.toString('hex');
}

export function queueTarget(root: string): SubmitTarget {
  const paths = ensureSpool(root);
  return {
    kind: 'queue',
    create: (arrival) => createMessageFile(paths, arrival),
    async commit(file, record) {
      // Why: the bytes and the name msg/<ID> must be on disk before a control record can point at
      // them; the record's own write and fsync do not depend on them, so all three overlap.
      await writeControl(paths, record, Promise.all([syncAndClose(file.fh), fsyncDir(paths.msg)]));
    },
  };
}

const O_NEW = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

export function dropTarget(root: string): SubmitTarget {
  const dir = path.join(root, INCOMING);
  return {
    kind: 'drop',
    maxBytes: DEFAULT_DROP_MAX_BYTES,
    async create(arrival) {
      for (let attempt = 0; ; attempt++) {
        const id = makeQueueId(arrival, () => Math.floor(Math.random() * 32));
        const file = path.join(dir, `${id}.${randomHex128()}`);
        try {
          const fh = await openFile(file, O_NEW, 0o644);
          // Why fchmod: the runner (another user) must read it whatever our umask is.
          await fh.chmod(0o644);
          return { id, path: file, fh };
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 10) throw e;
        }
      }
    },
    async commit(file, record) {
      const text = serializeControl(record);
      if (record.recipients.length > MAX_RECIPIENTS) throw new OutboxError(EX_DATAERR, `more than ${MAX_RECIPIENTS} recipients`);
      if (Buffer.byteLength(text) > MAX_ENVELOPE_BYTES) throw new OutboxError(EX_DATAERR, `the envelope is larger than ${MAX_ENVELOPE_BYTES} bytes`);
      const final = `${file.path}.env`;
      const tmp = path.join(dir, `.${path.basename(final)}`);
      // Why concurrently: the message's fsync and the envelope's write and fsync are independent;
      // only the rename (the commit point) must wait for both.
      const [opened, synced] = await Promise.allSettled([writeEnvelope(tmp, text), syncAndClose(file.fh)]);
      if (opened.status === 'rejected') throw opened.reason; // (the message file: the caller removes it)
      const fh = opened.value;
      try {
        if (synced.status === 'rejected') throw synced.reason;
        await rename(tmp, final);
      } catch (e) {
        await fh.close().catch(() => {});
        await unlink(tmp).catch(() => {});
        throw e;
      }
      // The rename is the commit point. A submitter cannot open incoming/ to fsync it (no read
      // permission: the directory must not be listable), so it fsyncs the renamed envelope
      // again: on journaling filesystems (ext4, xfs, btrfs) that commits the journal
      // transaction holding both new names. Whoever can also fsyncs the directory (at the same time).
      await Promise.all([
        syncAndClose(fh).catch(async (e) => {
          await fh.close().catch(() => {});
          throw e;
        }),
        fsyncDir(dir).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'EACCES' && e.code !== 'EPERM') throw e;
        }),
      ]);
    },
  };
}

/** Create the envelope's dot-temp file, write it and fsync it; the handle stays open. */
async function writeEnvelope(tmp: string, text: string): Promise<OpenFile> {
  const fh = await openFile(tmp, O_NEW, 0o644);
  try {
    await fh.chmod(0o644);
    await writeAll(fh, text);
    await fh.sync();
    return fh;
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

/** The target for a submission as the current user. */
export function submitTarget(config: Pick<Config, 'system' | 'spool'>): SubmitTarget {
  return usesDropDirectory(config) ? dropTarget(config.spool) : queueTarget(config.spool);
}
