/**
 * io.ts — the process's standard streams as every command receives them (Io), and the plain
 * reader of fd 0 that a submission uses instead of process.stdin. No other job: commands take an
 * Io from main.ts and never import the dispatcher.
 */

export interface Io {
  stdin: NodeJS.ReadableStream & AsyncIterable<Buffer | string>;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** The message input for a submission (defaults to iterating `stdin`). */
  readInput?: () => AsyncIterable<Buffer | string>;
}

/**
 * Standard input as an async iterable of chunks, read with fs.read on fd 0. A yielded chunk is
 * only valid until the consumer asks for the next one. Why not
 * process.stdin: creating it loads the net and stream machinery, which costs every sendmail call
 * several milliseconds; plain reads work the same for pipes, files and terminals.
 */
export async function* readFd0(): AsyncGenerator<Buffer> {
  const { read } = await import('node:fs');
  // One buffer, reused: each chunk is consumed (written to the spool) before the next read,
  // because the generator only resumes when the consumer asks for more. Keeps RSS flat.
  const buf = Buffer.allocUnsafe(128 * 1024);
  for (;;) {
    const n = await new Promise<number>((resolve, reject) =>
      read(0, buf, 0, buf.length, null, (err, bytes) => {
        if (!err) resolve(bytes);
        else if (err.code === 'EAGAIN') setTimeout(() => resolve(-1), 5);
        else if (err.code === 'EOF') resolve(0);
        else reject(err);
      }),
    );
    if (n === 0) return;
    if (n > 0) yield buf.subarray(0, n);
  }
}
