/**
 * smtpin/transport.ts — the Transport a session talks through, and connecting a byte stream (stdin/stdout, a socket, a TLS socket) to an
 * SMTP session: feed its input into an InputQueue, write replies with back-pressure.
 *
 * A write waits for 'drain' when the stream's buffer is full, at most `timeoutMs`: a client that
 * sends commands but never reads the replies is dropped instead of growing our output buffer.
 * Throws (from the write promise) the stream's error or TimeoutError.
 * Next: session.ts (the engine), stdio.ts and listener.ts (the two users).
 */
import type { InputQueue } from './input.js';
import { TimeoutError } from './input.js';

/** What a session reads from and writes to (stdio.ts and listener.ts build one). */
export interface Transport {
  input: InputQueue;
  /** Write bytes; resolves once the transport accepted them (waits for 'drain'). */
  write(text: string): Promise<void>;
  /** true once TLS is active. */
  secure: boolean;
  /** Present when STARTTLS can be offered: upgrade the connection (after the 220 was sent). */
  startTls?: () => Promise<void>;
}

/** Feed `r` into `q`; returns a function that detaches (for STARTTLS and the end of -bs). */
export function feed(q: InputQueue, r: NodeJS.ReadableStream): () => void {
  const onData = (d: Buffer | string) => q.push(typeof d === 'string' ? Buffer.from(d, 'latin1') : d);
  const onEnd = () => q.end();
  const onError = (e: Error) => q.fail(e);
  r.on('data', onData);
  r.on('end', onEnd);
  r.on('error', onError);
  return () => {
    r.removeListener('data', onData);
    r.removeListener('end', onEnd);
    r.removeListener('error', onError);
  };
}

/** A writer that resolves once `w` accepted the text (after 'drain' if needed). */
export function writer(w: NodeJS.WritableStream, timeoutMs: () => number): (text: string) => Promise<void> {
  let broken: Error | null = null;
  w.on('error', (e: Error) => {
    broken = e;
  });
  return (text: string) =>
    new Promise<void>((resolve, reject) => {
      if (broken) return reject(broken);
      let ok: boolean;
      try {
        ok = w.write(text);
      } catch (e) {
        return reject(e as Error);
      }
      if (ok) return resolve();
      const timer = setTimeout(() => {
        cleanup();
        reject(new TimeoutError());
      }, timeoutMs());
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onError = (e: Error) => {
        cleanup();
        reject(e);
      };
      const onClose = () => {
        cleanup();
        reject(new Error('closed'));
      };
      const cleanup = () => {
        clearTimeout(timer);
        w.removeListener('drain', onDrain);
        w.removeListener('error', onError);
        w.removeListener('close', onClose);
      };
      w.on('drain', onDrain);
      w.on('error', onError);
      w.on('close', onClose);
    });
}
