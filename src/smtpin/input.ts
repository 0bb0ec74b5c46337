/**
 * smtpin/input.ts — the client's bytes, with bounded memory: a push-fed chunk queue with
 * back-pressure, a length-limited command line reader, and the DATA dot decoder.
 *
 * - InputQueue: a transport (stdin, a TCP or TLS socket) pushes chunks; the session pulls. When
 *   more than `highWater` bytes wait, the source is paused until the session catches up, so a
 *   client that floods us costs at most about `highWater` bytes plus one chunk. Each wait for
 *   data is bounded by `idleMs` (then TimeoutError). Before any wait, `beforeWait` runs: the
 *   session flushes its pending replies there (that is how PIPELINING batches replies).
 * - readLine: one command line (LF or CRLF ended; bare-LF clients work), at most `max` bytes;
 *   a longer line is swallowed up to its LF and reported as tooLong, never accumulated.
 * - DotDecoder: pure RFC 5321 section 4.5.2 transparency for DATA — removes the leading dot of
 *   a line and finds the end marker (a line holding only "."; CRLF or bare LF), across chunk
 *   boundaries, without copying more than it must. Line length inside DATA is unlimited because
 *   nothing is held: the decoder only remembers where a line starts.
 *
 * Throws TimeoutError (idle client), EofError (connection closed where it must not be).
 * Next: smtpin/session.ts.
 */

export class TimeoutError extends Error {
  constructor() {
    super('timeout');
    this.name = 'TimeoutError';
  }
}

export class EofError extends Error {
  constructor(where: string) {
    super(`lost connection ${where}`);
    this.name = 'EofError';
  }
}

export interface InputSource {
  pause(): void;
  resume(): void;
}

export class InputQueue {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private paused = false;
  /** Called (and awaited) before the session blocks waiting for input. */
  beforeWait: (() => Promise<void>) | null = null;

  constructor(
    private source: InputSource | null,
    private readonly highWater = 64 * 1024,
    public idleMs = 300_000,
  ) {}

  /** Switch to another source (STARTTLS), dropping whatever the old one had buffered. */
  replaceSource(source: InputSource): number {
    const dropped = this.size;
    this.chunks = [];
    this.size = 0;
    this.source = source;
    this.paused = false;
    return dropped;
  }

  push(b: Buffer): void {
    if (b.length === 0 || this.ended) return;
    this.chunks.push(b);
    this.size += b.length;
    if (this.size > this.highWater && !this.paused && this.source) {
      this.paused = true;
      this.source.pause();
    }
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  fail(e: Error): void {
    if (!this.failure) this.failure = e;
    this.notify();
  }

  get buffered(): number {
    return this.size;
  }

  /** Put bytes back at the front (what followed the end of DATA). */
  unshift(b: Buffer): void {
    if (b.length === 0) return;
    this.chunks.unshift(b);
    this.size += b.length;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /**
   * The next chunk, or null at end of input. Each wait is bounded by idleMs and, if given, by
   * the absolute `deadline` (ms since the epoch): a client that trickles bytes is still dropped.
   */
  async read(deadline = Infinity): Promise<Buffer | null> {
    if (this.chunks.length === 0 && !this.ended && !this.failure) {
      if (this.beforeWait) await this.beforeWait();
      if (this.chunks.length === 0 && !this.ended && !this.failure) {
        if (this.paused && this.source) {
          this.paused = false;
          this.source.resume();
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(
            () => {
              this.fail(new TimeoutError());
            },
            Math.max(0, Math.min(this.idleMs, deadline - Date.now())),
          );
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
    if (this.chunks.length > 0) {
      const b = this.chunks.shift()!;
      this.size -= b.length;
      if (this.paused && this.size <= this.highWater / 2 && this.source) {
        this.paused = false;
        this.source.resume();
      }
      return b;
    }
    if (this.failure) throw this.failure;
    return null;
  }
}

export type LineResult = { line: string; tooLong: false } | { line: null; tooLong: true };

/**
 * One command line of at most `max` bytes (without its line ending); null at end of input.
 * The whole line must arrive within the queue's idle time (slow-drip clients are dropped).
 */
export async function readLine(q: InputQueue, max: number): Promise<LineResult | null> {
  const deadline = Date.now() + q.idleMs;
  const parts: Buffer[] = [];
  let len = 0;
  let tooLong = false;
  for (;;) {
    const b = await q.read(deadline);
    if (b === null) return null; // an unterminated last line is not a command
    const nl = b.indexOf(10);
    const piece = nl < 0 ? b : b.subarray(0, nl);
    if (!tooLong) {
      if (len + piece.length > max + 1) {
        tooLong = true;
        parts.length = 0;
      } else {
        parts.push(piece);
        len += piece.length;
      }
    }
    if (nl >= 0) {
      q.unshift(b.subarray(nl + 1));
      if (tooLong) return { line: null, tooLong: true };
      let line = Buffer.concat(parts, len);
      if (line.length > 0 && line[line.length - 1] === 13) line = line.subarray(0, line.length - 1);
      if (line.length > max) return { line: null, tooLong: true };
      return { line: line.toString('utf8'), tooLong: false };
    }
  }
}

const CR_BUF = Buffer.from('\r');

/**
 * Watches the start of a message for the end of its header section, so that the header section
 * of SMTP mail can be limited (submit() keeps a header section in memory until it is complete;
 * here it is cut far below submit()'s own limit, because a listener holds many sessions at once).
 * The section ends at the first empty line, or at once when the first line is not a header
 * field (then the message has no header section and everything is body, as submit() sees it).
 * Pure apart from its own state.
 */
export class HeaderWatch {
  done = false;
  bytes = 0;
  private lineLen = 0;
  private lastCr = false;
  private first: Buffer[] = [];
  private firstLen = 0;
  private lineNo = 0;

  constructor(
    private readonly limit: number,
    private readonly isField: (line: string) => boolean,
  ) {}

  /** Feed decoded message bytes; false once the header section is larger than the limit. */
  feed(b: Buffer): boolean {
    let i = 0;
    while (!this.done && i < b.length) {
      const nl = b.indexOf(10, i);
      const end = nl < 0 ? b.length : nl;
      const seg = b.subarray(i, end);
      if (seg.length > 0) {
        this.lineLen += seg.length;
        this.lastCr = seg[seg.length - 1] === 13;
        if (this.lineNo === 0 && this.firstLen < 1000) {
          this.first.push(seg);
          this.firstLen += seg.length;
        }
      }
      this.bytes += end - i + (nl < 0 ? 0 : 1);
      if (nl < 0) break;
      const empty = this.lineLen === 0 || (this.lineLen === 1 && this.lastCr);
      if (empty) this.done = true;
      else if (this.lineNo === 0) {
        const line = Buffer.concat(this.first).toString('latin1').replace(/\r$/, '') + '\n';
        this.first = [];
        if (!this.isField(line) && !line.startsWith('From ')) this.done = true;
      }
      this.lineNo++;
      this.lineLen = 0;
      this.lastCr = false;
      i = nl + 1;
    }
    return this.done || this.bytes <= this.limit;
  }
}

/** DATA transparency decoder (pure apart from its own state). */
export class DotDecoder {
  private state: 'bol' | 'mid' | 'dot' | 'dotcr' = 'bol';
  done = false;

  /**
   * Decode one chunk. `out` receives the message bytes (dots removed, line endings as sent);
   * once the end marker is seen, `done` is set and `rest` holds the bytes after it.
   */
  push(b: Buffer): { out: Buffer[]; rest: Buffer | null } {
    const out: Buffer[] = [];
    let start = 0;
    let i = 0;
    const flush = (end: number) => {
      if (end > start) out.push(b.subarray(start, end));
    };
    while (i < b.length) {
      switch (this.state) {
        case 'bol':
          if (b[i] === 46) {
            flush(i);
            i++;
            start = i;
            this.state = 'dot';
          } else this.state = 'mid';
          break;
        case 'mid': {
          const nl = b.indexOf(10, i);
          if (nl < 0) i = b.length;
          else {
            i = nl + 1;
            this.state = 'bol';
          }
          break;
        }
        case 'dot':
          if (b[i] === 13) {
            i++;
            start = i; // the CR is held until we know what follows it
            this.state = 'dotcr';
          } else if (b[i] === 10) {
            this.done = true;
            return { out, rest: b.subarray(i + 1) };
          } else this.state = 'mid'; // a stuffed line: its first dot is gone
          break;
        case 'dotcr':
          if (b[i] === 10) {
            this.done = true;
            return { out, rest: b.subarray(i + 1) };
          }
          out.push(CR_BUF);
          this.state = 'mid';
          break;
      }
    }
    flush(b.length);
    return { out, rest: null };
  }
}
