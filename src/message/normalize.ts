/**
 * message/normalize.ts — the byte stream from the caller, normalised chunk by chunk.
 *
 * Streams: memory use is bounded by the chunk size whatever the line length (a 50 MB line is
 * fine). What it does:
 *  - CRLF becomes LF (a CR that ends one chunk waits for the next); a lone CR is kept.
 *  - Without -i (`ignoreDots` false), SMTP-style dot handling as sendmail 8 does it: a line that
 *    starts with ".." loses one dot (callers such as Symfony dot-stuff and expect us to undo it),
 *    and a line holding a single "." ends the message IF NOTHING FOLLOWS IT. Unlike sendmail,
 *    a lone "." with more input after it is kept as content: logwatch and mdadm call `-t`
 *    without -i, and a log line "." must not silently cut their reports short.
 *  - Records whether a NUL byte or any 8-bit byte was seen.
 * Pure apart from its own state: push() a chunk in (it takes the chunk over and may rewrite its
 * bytes), get at most two chunks out, so the caller writes once per chunk, never once per line;
 * end() flushes.
 */
import { isAscii } from 'node:buffer';

const LF = 10;
const CR = 13;
const DOT = 46;
const DOT_BUF = Buffer.from('.');
const DOT_LINE = Buffer.from('.\n');
const LF_DOT = Buffer.from('\n.');
const CR_BUF = Buffer.from('\r');

function crlfToLf(b: Buffer): Buffer {
  let i = b.indexOf('\r\n');
  if (i < 0) return b;
  const parts: Buffer[] = [];
  let start = 0;
  while (i >= 0) {
    parts.push(b.subarray(start, i));
    start = i + 1; // keep the LF
    i = b.indexOf('\r\n', start);
  }
  parts.push(b.subarray(start));
  return Buffer.concat(parts);
}

/** A line (after the first) that starts with "..". */
const STUFFED = /\n\.\./g;

/** Unstuffing works on pieces of at most this many bytes, so its strings stay small. */
const PIECE = 8 * 1024;

/**
 * Unstuffs b[i, end) in place, i at the start of a line: every line that starts with ".." loses
 * one dot. Returns where the output ends. Each piece (whole lines, up to PIECE bytes) is one
 * global replace of a fixed string on a latin1 copy: V8 does that search and copy in C++, also
 * under --jitless (how the executable runs, README "Where it runs"), where a byte loop in
 * JavaScript is interpreted at about 25 ns a byte. Small pieces keep those strings in V8's young
 * generation (freed at once) and a long line is never copied into a string.
 */
function unstuff(b: Buffer, i: number, end: number): number {
  let n = i;
  while (i < end) {
    let stop = Math.min(end, i + PIECE);
    if (stop < end) {
      const nl = b.lastIndexOf(LF, stop - 1);
      if (nl >= i) stop = nl + 1;
      else {
        // One line longer than a piece: only its start can change; the rest moves as it is.
        const next = b.indexOf(LF, stop);
        stop = next < 0 || next >= end ? end : next + 1;
        if (b[i] === DOT && b[i + 1] === DOT) i++;
        b.copyWithin(n, i, stop);
        n += stop - i;
        i = stop;
        continue;
      }
    }
    let text = b.toString('latin1', i, stop);
    if (text.startsWith('..')) text = text.slice(1);
    n += b.write(text.replace(STUFFED, '\n.'), n, 'latin1');
    i = stop;
  }
  return n;
}

export class Normalizer {
  sawNul = false;
  sawEightBit = false;
  private pendingCr = false;
  private bol = true;
  private held: '' | '.' | '.\n' = '';

  constructor(private readonly ignoreDots: boolean) {}

  push(chunk: Buffer): Buffer[] {
    let b = chunk;
    if (this.pendingCr) {
      b = Buffer.concat([CR_BUF, b]);
      this.pendingCr = false;
    }
    if (b.length > 0 && b[b.length - 1] === CR) {
      this.pendingCr = true;
      b = b.subarray(0, b.length - 1);
    }
    b = crlfToLf(b);
    if (b.length === 0) return [];
    if (!this.sawNul && b.indexOf(0) >= 0) this.sawNul = true;
    if (!this.sawEightBit && !isAscii(b)) this.sawEightBit = true;
    if (this.ignoreDots) return [b];
    return this.dots(b);
  }

  end(): Buffer[] {
    const out: Buffer[] = [];
    if (this.pendingCr) {
      this.pendingCr = false;
      out.push(...(this.ignoreDots ? [CR_BUF] : this.dots(Buffer.from(CR_BUF))));
    }
    // A held "." or ".\n" at the very end is the terminator: dropped.
    this.held = '';
    return out;
  }

  /**
   * Dot handling for one chunk, rewritten IN PLACE (push() owns the chunk): the result is at most
   * two buffers (a held "." or ".\n" from the previous chunk, then this chunk), so the caller
   * makes one write per input chunk however many dot lines it holds.
   * (One write per unstuffed line cost a system call and a thread-pool round trip per line:
   * 45 s and 163 MB for 2 MB of dot lines.) A chunk with no line starting with "." is returned
   * as it is (one indexOf); from the first such line on, unstuff() does the rest.
   */
  private dots(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let bol = this.bol;
    if (this.held === '.\n') {
      // More input after a lone "." line: it was content, not the end.
      out.push(DOT_LINE);
      this.held = '';
      bol = true;
    } else if (this.held === '.') {
      // This chunk continues a line that began with a held ".".
      this.held = '';
      if (chunk[0] === LF && chunk.length === 1) {
        this.held = '.\n';
        return out;
      }
      if (chunk[0] !== DOT) out.push(DOT_BUF); // else "..": the held dot was the stuffing one
      bol = false;
    }
    const len = chunk.length;
    const endsWithLf = chunk[len - 1] === LF;
    // The first line that starts with a dot; the bytes before it stay where they are.
    let i = 0;
    if (!bol || chunk[0] !== DOT) {
      const k = chunk.indexOf(LF_DOT);
      if (k < 0) {
        this.bol = endsWithLf;
        out.push(chunk);
        return out;
      }
      i = k + 1;
    }
    // A "." or ".\n" at a line start that ends the chunk: the next chunk decides what it is.
    let end = len;
    const lineStartAt = (p: number) => (p === 0 ? bol : chunk[p - 1] === LF);
    if (chunk[len - 1] === DOT && lineStartAt(len - 1)) {
      this.held = '.';
      end = len - 1;
    } else if (len >= 2 && chunk[len - 1] === LF && chunk[len - 2] === DOT && lineStartAt(len - 2)) {
      this.held = '.\n'; // a final lone "." ends the message, unless more input follows
      end = len - 2;
    } else this.bol = endsWithLf;
    const n = unstuff(chunk, i, end);
    if (n > 0) out.push(chunk.subarray(0, n));
    return out;
  }
}
