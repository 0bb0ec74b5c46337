/**
 * plan/rewrite-stream.ts — the I/O half of plan/rewrite.ts, for the runner: read a stored
 * message's header section, and stream a delivery group's message (its rewritten header section,
 * then the stored body bytes unchanged). When a group rewrote nothing, the stored file is streamed
 * as it is.
 *
 * Stored messages (src/submit/submit.ts) always have a header section ending in an empty line, LF
 * line endings. Throws the file system's errors (the runner defers the message).
 */
import * as fs from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import type { DeliveryGroup } from './rewrite.js';

/** Largest header section searched for (the submit path accepts up to 4 MiB). */
const MAX_HEADER = 4 * 1024 * 1024 + 2;

export interface StoredHeader {
  /** The header section (latin1, LF), without the empty line. */
  text: string;
  /** Offset of the first body byte (after the empty line). */
  bodyOffset: number;
}

/** Where the header section of `buf` ends; null if no empty line was found. Pure. */
export function headerSectionOf(buf: Buffer): StoredHeader | null {
  if (buf.length > 0 && buf[0] === 10) return { text: '', bodyOffset: 1 };
  const i = buf.indexOf('\n\n');
  if (i < 0) return null;
  return { text: buf.subarray(0, i + 1).toString('latin1'), bodyOffset: i + 2 };
}

/** Read the header section of a stored message. */
export async function readStoredHeader(file: string): Promise<StoredHeader> {
  const fh = await fs.promises.open(file, 'r');
  try {
    let buf = Buffer.alloc(0);
    const chunk = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, buf.length);
      if (bytesRead === 0) break;
      buf = Buffer.concat([buf, chunk.subarray(0, bytesRead)]);
      const h = headerSectionOf(buf);
      if (h) return h;
      if (buf.length > MAX_HEADER) break;
    }
    // No empty line: the whole (small) file is the header section.
    const text = buf.toString('latin1');
    return { text: text.endsWith('\n') ? text : text + '\n', bodyOffset: buf.length };
  } finally {
    await fh.close();
  }
}

/** The bytes to send for one group, and their size (for SIZE=). */
export function groupMessage(file: string, stored: StoredHeader, group: DeliveryGroup, storedSize: number): { stream: Readable; size: number } {
  if (group.header === stored.text) return { stream: fs.createReadStream(file), size: storedSize };
  const head = Buffer.from(group.header + '\n', 'latin1');
  const out = new PassThrough();
  out.write(head);
  const body = fs.createReadStream(file, { start: stored.bodyOffset });
  body.on('error', (e) => out.destroy(e));
  // The runner destroys the stream it was given when it is done: release the file too.
  out.on('close', () => body.destroy());
  body.pipe(out);
  return { stream: out, size: head.length + Math.max(0, storedSize - stored.bodyOffset) };
}
