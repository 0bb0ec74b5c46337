/**
 * test/helpers/query-raw.ts — a raw client of the daemon's run/query.sock for the attack tests,
 * run as a chosen user: `node dist/test/helpers/query-raw.js '<Plan as JSON>'`. It speaks both
 * protocols — v2 (the daemon sends a challenge first; the proof is at incoming/q.<challenge>) and
 * v1 (no greeting; the request names a token file) — so that each attack can be shown to work
 * against the old daemon and to fail against the new one. Prints one JSON line (Result).
 * Every wait is bounded.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

export interface Plan {
  spool: string;
  request: { op: string; json?: boolean; args?: string[] };
  /** own: a proof made as the protocol wants it; rename: move this path to the proof's name;
   * precreated: present this token name (made before the connection); none: no proof. */
  proof: 'own' | 'none' | { rename: string } | { precreated: string };
  /** false: read only the verdict line, then stop reading and hold the connection for holdMs;
   * readyFile is created once the verdict is in (so a test knows the answer is under way). */
  read?: boolean;
  holdMs?: number;
  readyFile?: string;
  /** Send the request one byte every everyMs (at most forMs in all). */
  trickle?: { everyMs: number; forMs: number };
  /** A second connection sends the same request line at the same moment, with no proof of its own. */
  replay?: boolean;
}

export interface Answer {
  head: { ok?: boolean; error?: string } | null;
  body: string;
  closedByServer: boolean;
  ms: number;
}

export interface Result extends Answer {
  protocol: 1 | 2;
  renameError?: string;
  second?: Answer;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A connection whose incoming bytes are collected; nextLine() waits (bounded) for one line. */
class Conn {
  buf = '';
  closed = false;
  readonly t0 = Date.now();
  private wake: (() => void) | null = null;
  constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf += d.toString('utf8');
      this.wake?.();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    sock.on('error', () => {});
  }
  static open(file: string): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(file);
      s.once('connect', () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }
  /** Wait for more data, the close, or `ms` (the timer is cleared: it must not keep the process alive). */
  private more(ms: number): Promise<void> {
    return new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      this.wake = () => {
        clearTimeout(t);
        r();
      };
    });
  }
  async nextLine(timeoutMs: number): Promise<string | null> {
    const until = Date.now() + timeoutMs;
    while (!this.buf.includes('\n') && !this.closed && Date.now() < until) await this.more(until - Date.now());
    const nl = this.buf.indexOf('\n');
    if (nl < 0) return null;
    const line = this.buf.slice(0, nl);
    this.buf = this.buf.slice(nl + 1);
    return line;
  }
  async untilClosed(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < until) await this.more(until - Date.now());
  }
  async answer(timeoutMs: number): Promise<Answer> {
    await this.untilClosed(timeoutMs);
    const nl = this.buf.indexOf('\n');
    let head: Answer['head'] = null;
    try {
      if (nl >= 0) head = JSON.parse(this.buf.slice(0, nl)) as Answer['head'];
    } catch {
      head = null;
    }
    return { head, body: nl >= 0 ? this.buf.slice(nl + 1) : this.buf, closedByServer: this.closed, ms: Date.now() - this.t0 };
  }
}

export async function attack(plan: Plan): Promise<Result> {
  const sockFile = path.join(plan.spool, 'run', 'query.sock');
  const incoming = path.join(plan.spool, 'incoming');
  const c = await Conn.open(sockFile);
  // v2 greets at once; v1 says nothing until it has a request.
  const greeting = await c.nextLine(1500);
  const challenge = greeting ? (JSON.parse(greeting) as { challenge?: string }).challenge : undefined;
  const protocol = challenge ? 2 : 1;
  let name = challenge ? `q.${challenge}` : `q.${crypto.randomBytes(16).toString('hex')}`;
  const result: Partial<Result> = { protocol };
  const proof = plan.proof;
  if (proof === 'own') {
    if (protocol === 2) fs.mkdirSync(path.join(incoming, name), 0o700);
    else fs.closeSync(fs.openSync(path.join(incoming, name), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600));
  } else if (proof !== 'none' && 'rename' in proof) {
    try {
      fs.renameSync(proof.rename, path.join(incoming, name));
    } catch (e) {
      result.renameError = (e as NodeJS.ErrnoException).code ?? String(e);
    }
  } else if (proof !== 'none' && 'precreated' in proof) name = proof.precreated;
  const line = JSON.stringify({ v: protocol, ...plan.request, token: name }) + '\n';

  let second: Conn | null = null;
  if (plan.replay) {
    second = await Conn.open(sockFile);
    if (protocol === 2) await second.nextLine(1500);
  }
  if (plan.trickle) {
    const until = Date.now() + plan.trickle.forMs;
    for (let i = 0; i < line.length && !c.closed && Date.now() < until; i++) {
      c.sock.write(line[i]!);
      await sleep(plan.trickle.everyMs);
    }
  } else {
    c.sock.write(line);
    second?.sock.write(line);
  }
  if (plan.read === false) {
    const verdict = await c.nextLine(30_000);
    c.sock.pause();
    if (plan.readyFile) fs.writeFileSync(plan.readyFile, verdict ?? '');
    await sleep(plan.holdMs ?? 1000);
    const closedByServer = c.closed;
    c.sock.destroy();
    let head: Answer['head'] = null;
    try {
      head = verdict ? (JSON.parse(verdict) as Answer['head']) : null;
    } catch {
      head = null;
    }
    return { ...result, head, body: '', closedByServer, ms: Date.now() - c.t0 } as Result;
  }
  const a = await c.answer(30_000);
  c.sock.destroy();
  if (second) {
    result.second = await second.answer(30_000);
    second.sock.destroy();
  }
  return { ...result, ...a } as Result;
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  attack(JSON.parse(process.argv[2]!) as Plan).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (e: Error) => {
      process.stderr.write(`query-raw: ${e.message}\n`);
      process.exit(2);
    },
  );
}
