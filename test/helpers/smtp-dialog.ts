/**
 * test/helpers/smtp-dialog.ts — a minimal SMTP client for tests that drives a byte stream
 * (the stdin/stdout of `sendmail -bs`, or a TCP socket) line by line and reads whole replies.
 * Every wait is bounded (default 10 s).
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { constants } from 'node:os';

export interface SmtpReply {
  code: number;
  lines: string[];
  text: string;
}

export class Dialog {
  private buf = '';
  private closed = false;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly out: NodeJS.WritableStream,
    input: NodeJS.ReadableStream,
    private readonly timeoutMs = 10_000,
  ) {
    input.on('data', (d: Buffer) => {
      this.buf += d.toString('utf8');
      this.wake();
    });
    input.on('end', () => {
      this.closed = true;
      this.wake();
    });
    input.on('error', () => {
      this.closed = true;
      this.wake();
    });
  }

  static ofChild(child: ChildProcess, timeoutMs?: number): Dialog {
    child.stdin!.on('error', () => {});
    return new Dialog(child.stdin!, child.stdout!, timeoutMs);
  }

  static ofSocket(sock: Socket, timeoutMs?: number): Dialog {
    sock.on('error', () => {});
    return new Dialog(sock, sock, timeoutMs);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  write(text: string | Buffer): void {
    this.out.write(text);
  }

  /** Send one command line (CRLF added). */
  send(line: string): void {
    this.out.write(line + '\r\n');
  }

  /** The next complete reply (all its lines); rejects on timeout or when the stream closed. */
  async reply(): Promise<SmtpReply> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const lines: string[] = [];
      let pos = 0;
      for (;;) {
        const nl = this.buf.indexOf('\n', pos);
        if (nl < 0) break;
        const line = this.buf.slice(pos, nl).replace(/\r$/, '');
        pos = nl + 1;
        lines.push(line);
        if (line[3] !== '-') {
          this.buf = this.buf.slice(pos);
          return { code: Number(line.slice(0, 3)), lines, text: lines.join('\n') };
        }
      }
      if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.buf)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a reply; unread: ${JSON.stringify(this.buf)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Send a command and check the reply code. */
  async cmd(line: string, code: number): Promise<SmtpReply> {
    this.send(line);
    return this.expect(code);
  }

  async expect(code: number): Promise<SmtpReply> {
    const r = await this.reply();
    if (r.code !== code) throw new Error(`expected ${code}, got: ${r.text}`);
    return r;
  }

  /** Everything the other side sends until it closes (bounded). */
  async rest(): Promise<string> {
    const deadline = Date.now() + this.timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    if (!this.closed) throw new Error('stream did not close');
    const r = this.buf;
    this.buf = '';
    return r;
  }
}

/** Wait for a child's exit, bounded; returns its status (or 128+signal). */
export function exitOf(child: ChildProcess, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('child did not exit'));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(t);
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}
