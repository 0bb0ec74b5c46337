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
 * Pure apart from its own state: push() chunks in, get chunks out; end() flushes.
 */
import { isAscii } from 'node:buffer';

const LF = 10;
const CR = 13;
const DOT = 46;
const DOT_BUF = Buffer.from('.');
const DOT_LINE = Buffer.from('.\n');
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
      out.push(...(this.ignoreDots ? [CR_BUF] : this.dots(CR_BUF)));
    }
    // A held "." or ".\n" at the very end is the terminator: dropped.
    this.held = '';
    return out;
  }

  private dots(input: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let b = input;
    if (this.held === '.\n') {
      // More input after a lone "." line: it was content, not the end.
      out.push(DOT_LINE);
      this.held = '';
      this.bol = true;
    } else if (this.held === '.') {
      b = Buffer.concat([DOT_BUF, b]);
      this.held = '';
      this.bol = true;
    }
    let start = 0;
    let i: number;
    if (this.bol) i = 0;
    else {
      const nl = b.indexOf(LF);
      i = nl < 0 ? -1 : nl + 1;
    }
    while (i >= 0 && i < b.length) {
      if (b[i] === DOT) {
        if (i + 1 >= b.length) {
          out.push(b.subarray(start, i));
          this.held = '.';
          start = b.length;
          break;
        }
        const next = b[i + 1];
        if (next === DOT) {
          out.push(b.subarray(start, i));
          start = i + 1;
        } else if (next === LF && i + 2 >= b.length) {
          out.push(b.subarray(start, i));
          this.held = '.\n';
          start = b.length;
          break;
        }
      }
      const nl = b.indexOf(LF, i);
      i = nl < 0 ? -1 : nl + 1;
    }
    if (start < b.length) out.push(b.subarray(start));
    if (this.held === '') this.bol = b[b.length - 1] === LF;
    return out.filter((x) => x.length > 0);
  }
}
