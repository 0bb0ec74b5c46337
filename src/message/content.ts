/**
 * message/content.ts — the submission content rules, in one place: no NUL byte anywhere, and a
 * header section of at most MAX_HEADER_BYTES that parses (message/headers.ts
 * parseHeaderSection: every line a field or a continuation, no bare CR). Pure.
 *
 * sendmail applies them while it normalises its input (submit/submit.ts); pickup
 * (spool/pickup.ts) applies them again, with StoredMessageCheck, to the bytes a submitter left
 * in incoming/, which a user may have written by hand without sendmail. A sparse file's holes
 * read as NUL bytes, so the NUL rule also refuses holes before a single zero is copied.
 * Errors are returned as text (the caller decides: EX_DATAERR for sendmail, a refusal for pickup).
 */
import { parseHeaderSection } from './headers.js';

/** Largest header section accepted (10,000 header lines fit comfortably). */
export const MAX_HEADER_BYTES = 4 * 1024 * 1024;
export const NUL_ERROR = 'the message contains a NUL byte';
export const headerTooLarge = (max = MAX_HEADER_BYTES) => `the header section is larger than ${max} bytes`;

/**
 * Checks stored (LF-normalised) message bytes chunk by chunk: push() each chunk before it is
 * used, end() once; each returns an error text or null. Memory: at most the header section.
 */
export class StoredMessageCheck {
  private head: Buffer[] = [];
  private headLen = 0;
  private inHeader = true;

  push(chunk: Buffer): string | null {
    if (chunk.indexOf(0) >= 0) return NUL_ERROR;
    if (!this.inHeader || chunk.length === 0) return null;
    // The header section ends at the first empty line (a message may start with one: no headers),
    // which may straddle two chunks. Chunks are kept, not joined, until it is found.
    const prevNl = this.headLen > 0 && this.head[this.head.length - 1]![this.head[this.head.length - 1]!.length - 1] === 10;
    if (chunk[0] === 10 && (this.headLen === 0 || prevNl)) return this.finish(Buffer.concat(this.head));
    const end = chunk.indexOf('\n\n');
    if (end >= 0) return this.finish(Buffer.concat([...this.head, chunk.subarray(0, end + 1)]));
    this.head.push(chunk);
    this.headLen += chunk.length;
    if (this.headLen > MAX_HEADER_BYTES) return headerTooLarge();
    return null;
  }

  end(): string | null {
    if (!this.inHeader) return null;
    let buf = Buffer.concat(this.head);
    if (buf.length > 0 && buf[buf.length - 1] !== 10) buf = Buffer.concat([buf, Buffer.from('\n')]);
    return this.finish(buf);
  }

  private finish(header: Buffer): string | null {
    this.inHeader = false;
    this.head = [];
    if (header.length > MAX_HEADER_BYTES) return headerTooLarge();
    const parsed = parseHeaderSection(header.toString('latin1'));
    return parsed.kind === 'error' ? `malformed message: ${parsed.error}` : null;
  }
}
