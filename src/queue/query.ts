/**
 * queue/query.ts — the daemon's side of run/query.sock: the queue as seen by users who may not
 * read it, answered for the proven asking user only. The wire format and the client are in
 * queue/query-client.ts (this module imports it); the answers are the commands' own functions
 * (mailq.ts listQueue, manage.ts runQueueCommand), which import no query module (queue/access.ts).
 *
 * Why: on the system spool, msg/ and ctl/ are the runner's (mode 0700), so `mailq` run by a user
 * cannot read them, yet it must show that user's own messages. No setuid bit (it would not work
 * under NoNewPrivileges anyway), so the daemon, which can read the queue, answers.
 *
 * Who is asking is proven per connection, never inferred from a file a user could have moved.
 * Node has no SO_PEERCRED, so: right after accept() the daemon sends a fresh
 * challenge; the client creates the directory incoming/q.<challenge>; the daemon lstat()s it and
 * takes its owner as the caller when it is a directory (a directory can be moved to another parent
 * only by someone who may write to it), that neither group nor others may write, born (statx
 * birth time, where the filesystem records one) no earlier than the challenge. It then removes
 * it (one use). Full argument: query-client.ts and README "Privilege model".
 *
 * Resources, per connection: the request must arrive within REQUEST_DEADLINE_MS of accept()
 * (absolute: trickling bytes does not extend it), the answer must be complete within
 * ANSWER_DEADLINE_MS, output waits for the client to read (backpressure) and a writer that ignores
 * it is cut off past OUTPUT_BOUND bytes buffered; at most MAX_PER_UID answers run at once per uid.
 * Who sees what is queue/access.ts visibleTo(): root and the spool owner everything, anyone else
 * their own messages.
 *
 * The server never throws for a connection; each problem is answered and logged.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Config } from '../config/config.js';
import { describeError, exitCodeOf } from '../sysexits.js';
import { INCOMING, randomHex128 } from '../spool/drop.js';
import type { SpoolPaths } from '../spool/spool.js';
import type { LineLog } from '../log/log.js';
import { PROTOCOL_VERSION, QUERY_SOCKET, type QueryRequest, proofPath } from './query-client.js';

export { QUERY_SOCKET } from './query-client.js';
const MAX_REQUEST_BYTES = 4096;
export const REQUEST_DEADLINE_MS = 5000;
export const ANSWER_DEADLINE_MS = 120_000;
/** Bytes the daemon keeps buffered for one client at most (one read chunk of a message, framed, fits). */
export const OUTPUT_BOUND = 1024 * 1024;
export const MAX_PER_UID = 4;
const MAX_CONNECTIONS = 128;
/** Kernel file times come from a coarse clock, a few ms behind Date.now(): allow that much. */
const CLOCK_SLACK_MS = 1000;

/** Hooks the daemon lends to the ops (flush needs its engine). */
export interface QueryHooks {
  /** Try every queued message now; resolves with how many were handed to the engine. */
  flush?: () => Promise<number>;
}

/** What a proven request may do, by op. Each op writes its output to `out`. */
export type QueryOp = (ctx: { config: Config; uid: number; req: QueryRequest; out: NodeJS.WritableStream; hooks: QueryHooks }) => Promise<void>;

const frameOf = (out: NodeJS.WritableStream) => (o: object) => out.write(JSON.stringify(o) + '\n');

export const OPS: Record<string, QueryOp> = {
  async list({ config, uid, req, out }) {
    const { listQueue } = await import('./mailq.js');
    await listQueue(config, { json: req.json === true, uid, out });
  },
  async queue({ config, uid, req, out }) {
    const { runQueueCommand } = await import('./manage.js');
    const { parseQueueArgs } = await import('./request.js');
    const { loginName } = await import('../passwd.js');
    const frame = frameOf(out);
    // The command's stdout and stderr, framed; write() reports the socket's backpressure. The
    // client is taken for a terminal: its own `outbox queue` adds --raw when its stdout is not.
    const sink = (key: 'out' | 'err') =>
      ({
        isTTY: true,
        write(chunk: string | Uint8Array, cb?: () => void) {
          const more = frame({ [key]: Buffer.from(chunk).toString('base64') });
          cb?.();
          return more;
        },
        once(event: string, cb: () => void) {
          out.once(event, cb);
          return this;
        },
      }) as unknown as NodeJS.WritableStream;
    let code: number;
    try {
      const r = parseQueueArgs(req.args ?? []);
      if (r.kind === 'help') code = 0;
      else {
        const { configFile: _ignored, ...request } = r;
        const io = { stdin: process.stdin, stdout: sink('out'), stderr: sink('err') };
        code = await runQueueCommand(request, config, io, { uid, user: loginName(uid) });
      }
    } catch (e) {
      if (e instanceof ClientGone) throw e;
      frame({ err: Buffer.from(`outbox queue: ${describeError(e)}\n`).toString('base64') });
      code = exitCodeOf(e);
    }
    frame({ exit: code });
  },
  async flush({ out, hooks }) {
    const frame = frameOf(out);
    if (!hooks.flush) {
      frame({ err: Buffer.from('sendmail: this queue server cannot run the queue\n').toString('base64') });
      frame({ exit: 69 });
      return;
    }
    await hooks.flush();
    frame({ exit: 0 });
  },
};

/** Parse and check one request line. Pure. */
export function parseRequest(line: string): QueryRequest | { error: string } {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { error: 'request is not JSON' };
  }
  if (typeof raw !== 'object' || raw === null || raw.v !== PROTOCOL_VERSION) return { error: 'unsupported request version' };
  if (typeof raw.op !== 'string' || !Object.hasOwn(OPS, raw.op)) return { error: `unknown operation ${JSON.stringify(raw.op)}` };
  let args: string[] | undefined;
  if (raw.args !== undefined) {
    if (!Array.isArray(raw.args) || raw.args.length > 64 || raw.args.some((a) => typeof a !== 'string' || a.length > 1000)) return { error: 'bad args' };
    args = raw.args as string[];
  }
  return { v: PROTOCOL_VERSION, op: raw.op, json: raw.json === true, ...(args ? { args } : {}) };
}

/** A one-line description of what an lstat found. Pure. */
function kindOf(st: fs.Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a directory';
}

/**
 * Who answered the challenge issued at `issuedAt`: the owner of the directory at `proof`, if it
 * is one that only its owner can have put there (see the header). Pure apart from the lstat.
 */
export async function verifyProof(proof: string, issuedAt: number): Promise<{ uid: number } | { error: string }> {
  let st: fs.Stats;
  try {
    st = await fsp.lstat(proof);
  } catch {
    return { error: 'no proof at the challenge name' };
  }
  if (!st.isDirectory()) return { error: `the proof is ${kindOf(st)}, not a directory` };
  if ((st.mode & 0o022) !== 0) return { error: 'the proof directory is writable by group or others' };
  // Second line of defence: a birth time (statx; 0 where the filesystem keeps none) before the
  // challenge means the directory existed before this connection.
  if (st.birthtimeMs > 0 && st.birthtimeMs < issuedAt - CLOCK_SLACK_MS) return { error: 'the proof is older than the challenge' };
  return { uid: st.uid };
}

/** The client stopped reading or went away: the op is abandoned. */
export class ClientGone extends Error {}

/**
 * The reply side of a socket as a WritableStream for the ops: write() returns the socket's
 * backpressure, once('drain') also fires when the socket closes (so no writer waits forever),
 * and a write after the socket closed, or past OUTPUT_BOUND buffered bytes, throws ClientGone.
 */
function replySink(sock: net.Socket): NodeJS.WritableStream {
  return {
    write(chunk: string | Uint8Array, cb?: () => void) {
      if (sock.destroyed || !sock.writable) throw new ClientGone('the client went away');
      if (sock.writableLength > OUTPUT_BOUND) {
        sock.destroy();
        throw new ClientGone(`the client does not read its answer (over ${OUTPUT_BOUND} bytes waiting)`);
      }
      return sock.write(chunk, cb ? () => cb() : undefined);
    },
    once(event: string, cb: () => void) {
      if (event !== 'drain') {
        sock.once(event, cb);
        return this;
      }
      if (sock.destroyed) {
        setImmediate(cb);
        return this;
      }
      const done = () => {
        sock.off('drain', done);
        sock.off('close', done);
        cb();
      };
      sock.on('drain', done);
      sock.on('close', done);
      return this;
    },
  } as unknown as NodeJS.WritableStream;
}

/** Read the request line; null when none came (closed, too long, or the deadline passed). */
function readRequestLine(sock: net.Socket): Promise<string | null> {
  return new Promise<string | null>((resolve) => {
    let buf = '';
    const finish = (v: string | null) => {
      sock.off('data', onData);
      resolve(v);
    };
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) finish(buf.slice(0, nl));
      else if (buf.length > MAX_REQUEST_BYTES) finish(null);
    };
    sock.on('data', onData);
    sock.once('end', () => finish(null));
    sock.once('close', () => finish(null));
  });
}

/** Serve one connection: challenge, read one line, verify the proof, run the op. Never throws. */
async function serveConnection(sock: net.Socket, p: SpoolPaths, config: Config, log: LineLog, hooks: QueryHooks, perUid: Map<number, number>): Promise<void> {
  sock.on('error', () => {});
  const challenge = randomHex128();
  const issuedAt = Date.now();
  const proof = proofPath(p.root, challenge);
  // Absolute deadlines, not idle timeouts: a client trickling bytes gains nothing.
  let deadline = setTimeout(() => sock.destroy(), REQUEST_DEADLINE_MS);
  const answer = (obj: object) => {
    if (!sock.destroyed) sock.write(JSON.stringify(obj) + '\n');
  };
  let uid: number | null = null;
  try {
    answer({ v: PROTOCOL_VERSION, challenge });
    const line = await readRequestLine(sock);
    if (line === null) {
      answer({ ok: false, error: 'no request' });
      return;
    }
    const req = parseRequest(line);
    if ('error' in req) {
      answer({ ok: false, error: req.error });
      return;
    }
    const who = await verifyProof(proof, issuedAt);
    if ('error' in who) {
      log.line(null, `query ${req.op} refused: ${who.error}`, 'warning');
      answer({ ok: false, error: `not authenticated (${who.error})` });
      return;
    }
    const running = perUid.get(who.uid) ?? 0;
    if (running >= MAX_PER_UID) {
      log.line(null, `query ${req.op} for uid ${who.uid} refused: ${running} already running`, 'warning');
      answer({ ok: false, error: `too many queries at once from uid ${who.uid} (at most ${MAX_PER_UID}); try again` });
      return;
    }
    uid = who.uid;
    perUid.set(uid, running + 1);
    clearTimeout(deadline);
    deadline = setTimeout(() => {
      log.line(null, `query ${req.op} for uid ${who.uid} cut off after ${ANSWER_DEADLINE_MS / 1000} s`, 'warning');
      sock.destroy();
    }, ANSWER_DEADLINE_MS);
    answer({ ok: true });
    try {
      await OPS[req.op]!({ config, uid: who.uid, req, out: replySink(sock), hooks });
    } catch (e) {
      log.line(null, `query ${req.op} for uid ${who.uid} failed: ${(e as Error).message}`, e instanceof ClientGone ? 'warning' : 'error');
    }
  } finally {
    clearTimeout(deadline);
    if (uid !== null) {
      const n = (perUid.get(uid) ?? 1) - 1;
      if (n > 0) perUid.set(uid, n);
      else perUid.delete(uid);
    }
    // One use; also removes what a client left behind when it gave up before asking.
    await fsp.rmdir(proof).catch(() => {});
    sock.end();
  }
}

export interface QueryServer {
  close(): Promise<void>;
}

/**
 * Listen on run/query.sock (the daemon calls this once at start and close() when it stops).
 * A socket left by a dead daemon is replaced.
 */
export async function startQueryServer(p: SpoolPaths, config: Config, log: LineLog, hooks: QueryHooks = {}): Promise<QueryServer> {
  // Renaming within one directory needs no permission on the entry moved: only the sticky bit
  // stops alice from renaming bob's live proof to her own challenge's name. Without it, no answers.
  // (A per-user spool has no incoming/: then nobody can answer a challenge, and nobody needs to.)
  const drop = await fsp.lstat(path.join(p.root, INCOMING)).catch(() => null);
  if (drop && (!drop.isDirectory() || ((drop.mode & 0o1000) === 0 && (drop.mode & 0o022) !== 0))) {
    throw new Error(
      `${path.join(p.root, INCOMING)} is writable by others without the sticky bit (mode ${(drop.mode & 0o7777).toString(8)}; scripts/mkspool.sh makes it 1733)`,
    );
  }
  const file = path.join(p.run, QUERY_SOCKET);
  await fsp.unlink(file).catch(() => {});
  const perUid = new Map<number, number>();
  const server = net.createServer((sock) => void serveConnection(sock, p, config, log, hooks, perUid));
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Anyone may connect: the proof, not the socket's mode, decides who is asking.
  await fsp.chmod(file, 0o666);
  server.on('error', (e) => log.line(null, `query socket: ${e.message}`, 'error'));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        void fsp.unlink(file).catch(() => {});
      }),
  };
}
