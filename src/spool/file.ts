/**
 * spool/file.ts — the asynchronous file calls of the spool's writers (a submission's commit
 * above all), as promises over node:fs's callbacks: each runs on libuv's thread pool as with
 * node:fs/promises, so independent fsyncs still overlap.
 *
 * Why not node:fs/promises: loading it (with the readline, watcher and REPL-history modules it
 * pulls in) costs every sendmail call about 3 ms under --jitless (docs/performance.md).
 */
import * as fs from 'node:fs';

/** An open file: the subset of fs/promises' FileHandle the spool uses, same signatures. */
export interface OpenFile {
  readonly fd: number;
  write(buf: Buffer, offset: number, length: number): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  chmod(mode: number): Promise<void>;
  /** Closes once; later calls resolve without touching the (maybe reused) descriptor. */
  close(): Promise<void>;
}

type Callback<T> = (err: NodeJS.ErrnoException | null, value: T) => void;

/** The promise of one callback-style call. */
function call<T = void>(start: (cb: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => start((err, value) => (err ? reject(err) : resolve(value))));
}

export async function openFile(file: string, flags: number, mode?: number): Promise<OpenFile> {
  const fd = await call<number>((cb) => fs.open(file, flags, mode, cb));
  let closed = false;
  return {
    fd,
    write: (buf, offset, length) => call<number>((cb) => fs.write(fd, buf, offset, length, null, cb)).then((bytesWritten) => ({ bytesWritten })),
    sync: () => call((cb) => fs.fsync(fd, cb)),
    chmod: (m) => call((cb) => fs.fchmod(fd, m, cb)),
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return call((cb) => fs.close(fd, cb));
    },
  };
}

/** Write all of `data` at the file's current offset. */
export async function writeAll(fh: OpenFile, data: string | Buffer): Promise<void> {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  for (let off = 0; off < buf.length;) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
}

export const rename = (from: string, to: string): Promise<void> => call((cb) => fs.rename(from, to, cb));
export const unlink = (file: string): Promise<void> => call((cb) => fs.unlink(file, cb));
export const readdir = (dir: string): Promise<string[]> => call<string[]>((cb) => fs.readdir(dir, cb));
export const lstat = (file: string): Promise<fs.Stats> => call<fs.Stats>((cb) => fs.lstat(file, cb));
export const readText = (file: string): Promise<string> => call<string>((cb) => fs.readFile(file, 'utf8', cb));
