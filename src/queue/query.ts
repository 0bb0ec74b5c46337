/**
 * queue/query.ts — the queue as seen by users who may not read it: a question to the daemon
 * over the unix socket run/query.sock, answered for the asking user only.
 *
 * Why: on the system spool, msg/ and ctl/ are the runner's (mode 0700), so `mailq` run by a user
 * cannot read them, yet it must show that user's own messages. No setuid bit (it would not work
 * under NoNewPrivileges anyway), so the daemon, which can read the queue, answers. Node has no
 * SO_PEERCRED, so the client proves its uid with the drop directory instead:
 *
 *   1. the client creates incoming/q.<128 random bits, hex> (O_EXCL|O_NOFOLLOW, mode 0600);
 *      incoming/ is mode 1733, so nobody else can list it, learn the name, or remove the file;
 *   2. it connects to run/query.sock (run/ is 0711, the socket 0666) and sends one JSON line:
 *      {"v":1,"op":"list","token":"q.<hex>","json":false}
 *   3. the daemon lstat()s incoming/<token>: a regular file, one link, modified in the last
 *      TOKEN_MAX_AGE_MS; its owner is the client's uid. A symlink or hard link to another
 *      user's file is refused. The daemon removes the token (one use), then answers with one
 *      JSON line {"ok":true} or {"ok":false,"error":"..."} followed by the output;
 *   4. the client removes its token (if still there) and prints the output.
 * Who sees what is queue/mailq.ts visibleTo(): root and the spool owner everything, anyone else
 * their own messages. Ops: "list" (mailq; the output is the listing itself) and "queue" (`outbox
 * queue ARGS...` run by the daemon for the asking uid, so visibleTo() limits it to that user's
 * messages; the output is JSON lines {"out":base64} / {"err":base64} and a last {"exit":N}).
 *
 * Client errors: OutboxError(EX_UNAVAILABLE) with a clear line when the daemon is not running.
 * The server never throws for a connection; each problem is answered and logged.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Config } from '../config/config.js';
import { EX_TEMPFAIL, EX_UNAVAILABLE, OutboxError, describeError, exitCodeOf } from '../sysexits.js';
import { INCOMING, randomHex128 } from '../spool/drop.js';
import type { SpoolPaths } from '../spool/spool.js';
import type { PickupLog } from '../spool/pickup.js';

export const QUERY_SOCKET = 'query.sock';
export const TOKEN_RE = /^q\.[0-9a-f]{32}$/;
export const TOKEN_MAX_AGE_MS = 60_000;
const MAX_REQUEST_BYTES = 4096;
const REQUEST_TIMEOUT_MS = 5000;

export interface QueryRequest {
  v: 1;
  op: string;
  token: string;
  json?: boolean;
  /** For "queue": the arguments of `outbox queue` (any -C is ignored: the daemon's config rules). */
  args?: string[];
}

/** What an authenticated request may do, by op. Each op writes its output to `out`. */
export type QueryOp = (ctx: { config: Config; uid: number; req: QueryRequest; out: NodeJS.WritableStream }) => Promise<void>;

export const OPS: Record<string, QueryOp> = {
  async list({ config, uid, req, out }) {
    const { listQueue } = await import('./mailq.js');
    await listQueue(config, { json: req.json === true, uid, out, direct: true });
  },
  async queue({ config, uid, req, out }) {
    const { runQueueCommand, parseQueueArgs } = await import('./manage.js');
    const { loginName } = await import('../spool/pickup.js');
    const frame = (o: object) => out.write(JSON.stringify(o) + '\n');
    const sink = (key: 'out' | 'err') =>
      ({
        write(chunk: string | Uint8Array, cb?: () => void) {
          frame({ [key]: Buffer.from(chunk).toString('base64') });
          cb?.();
          return true;
        },
        once() {
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
      frame({ err: Buffer.from(`outbox queue: ${describeError(e)}\n`).toString('base64') });
      code = exitCodeOf(e);
    }
    frame({ exit: code });
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
  if (typeof raw !== 'object' || raw === null || raw.v !== 1) return { error: 'unsupported request version' };
  if (typeof raw.op !== 'string' || !Object.hasOwn(OPS, raw.op)) return { error: `unknown operation ${JSON.stringify(raw.op)}` };
  if (typeof raw.token !== 'string' || !TOKEN_RE.test(raw.token)) return { error: 'bad token' };
  let args: string[] | undefined;
  if (raw.args !== undefined) {
    if (!Array.isArray(raw.args) || raw.args.length > 64 || raw.args.some((a) => typeof a !== 'string' || a.length > 1000)) return { error: 'bad args' };
    args = raw.args as string[];
  }
  return { v: 1, op: raw.op, token: raw.token, json: raw.json === true, ...(args ? { args } : {}) };
}

/**
 * Who sent this token: the uid owning incoming/<token>, if it is a fresh regular file with one
 * link. Removes the token (one use). Returns an error string otherwise.
 */
export async function authenticate(p: SpoolPaths, token: string, now = Date.now()): Promise<{ uid: number } | { error: string }> {
  if (!TOKEN_RE.test(token)) return { error: 'bad token' };
  const file = path.join(p.root, INCOMING, token);
  let st: fs.Stats;
  try {
    st = await fsp.lstat(file);
  } catch {
    return { error: 'token not found' };
  }
  try {
    if (!st.isFile()) return { error: 'token is not a regular file' };
    if (st.nlink !== 1) return { error: 'token has more than one link' };
    if (Math.abs(now - st.mtimeMs) > TOKEN_MAX_AGE_MS) return { error: 'token is stale' };
    return { uid: st.uid };
  } finally {
    await fsp.unlink(file).catch(() => {});
  }
}

/** Serve one connection: read one line, authenticate, run the op. Never throws. */
async function serveConnection(sock: net.Socket, p: SpoolPaths, config: Config, log: PickupLog): Promise<void> {
  sock.setTimeout(REQUEST_TIMEOUT_MS, () => sock.destroy());
  sock.on('error', () => {});
  const line = await new Promise<string | null>((resolve) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        sock.off('data', onData);
        resolve(buf.slice(0, nl));
      } else if (buf.length > MAX_REQUEST_BYTES) {
        sock.off('data', onData);
        resolve(null);
      }
    };
    sock.on('data', onData);
    sock.once('end', () => resolve(null));
    sock.once('close', () => resolve(null));
  });
  const answer = (obj: object) => sock.write(JSON.stringify(obj) + '\n');
  if (line === null) {
    answer({ ok: false, error: 'no request' });
    sock.end();
    return;
  }
  const req = parseRequest(line);
  if ('error' in req) {
    answer({ ok: false, error: req.error });
    sock.end();
    return;
  }
  const who = await authenticate(p, req.token);
  if ('error' in who) {
    log.line(null, `query ${req.op} refused: ${who.error}`, 'warning');
    answer({ ok: false, error: `not authenticated (${who.error})` });
    sock.end();
    return;
  }
  answer({ ok: true });
  try {
    await OPS[req.op]!({ config, uid: who.uid, req, out: sock });
  } catch (e) {
    log.line(null, `query ${req.op} for uid ${who.uid} failed: ${(e as Error).message}`, 'error');
  }
  sock.end();
}

export interface QueryServer {
  close(): Promise<void>;
}

/**
 * Listen on run/query.sock (the daemon calls this once at start and close() when it stops).
 * A socket left by a dead daemon is replaced.
 */
export async function startQueryServer(p: SpoolPaths, config: Config, log: PickupLog): Promise<QueryServer> {
  const file = path.join(p.run, QUERY_SOCKET);
  await fsp.unlink(file).catch(() => {});
  const server = net.createServer((sock) => void serveConnection(sock, p, config, log));
  server.maxConnections = 32;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Anyone may connect: the token, not the socket's mode, decides who is asking.
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

/** `outbox queue ARGS` for a user who cannot read the system spool: the daemon runs it. */
export async function queueViaDaemon(config: Config, args: string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<number> {
  let exit: number | null = null;
  let pending = '';
  const frames = {
    write(d: string | Uint8Array) {
      pending += Buffer.from(d).toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const f = JSON.parse(line) as { out?: string; err?: string; exit?: number };
        if (f.out !== undefined) io.stdout.write(Buffer.from(f.out, 'base64'));
        if (f.err !== undefined) io.stderr.write(Buffer.from(f.err, 'base64'));
        if (typeof f.exit === 'number') exit = f.exit;
      }
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  await queryDaemon(config, 'queue', { json: false, out: frames, args });
  if (exit === null) throw new OutboxError(EX_TEMPFAIL, 'the queue daemon did not finish its answer');
  return exit;
}

/** The client: ask the daemon, write its answer to `out`. */
export async function queryDaemon(config: Config, op: string, opts: { json: boolean; out: NodeJS.WritableStream; args?: string[] }): Promise<void> {
  const token = `q.${randomHex128()}`;
  const tokenFile = path.join(config.spool, INCOMING, token);
  const sockFile = path.join(config.spool, 'run', QUERY_SOCKET);
  const unavailable = (why: string) =>
    new OutboxError(EX_UNAVAILABLE, `the queue daemon is not running (${why}); only root and the spool owner can read the queue directly: run "sudo mailq", or start the daemon (systemctl start outbox)`);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(tokenFile, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    throw new OutboxError(EX_UNAVAILABLE, `cannot ask the queue daemon: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} on ${path.dirname(tokenFile)}`);
  }
  await fh.close();
  try {
    const sock = net.createConnection(sockFile);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? unavailable(`no listener on ${sockFile}`) : e));
    });
    sock.write(JSON.stringify({ v: 1, op, token, json: opts.json, ...(opts.args ? { args: opts.args } : {}) } satisfies QueryRequest) + '\n');
    let head: string | null = null;
    let pending = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new OutboxError(EX_TEMPFAIL, 'the queue daemon did not answer in time'));
      }, 30_000);
      sock.on('data', (d: Buffer) => {
        if (head === null) {
          pending += d.toString('utf8');
          const nl = pending.indexOf('\n');
          if (nl < 0) return;
          head = pending.slice(0, nl);
          const rest = pending.slice(nl + 1);
          let h: { ok?: boolean; error?: string };
          try {
            h = JSON.parse(head) as typeof h;
          } catch {
            h = { ok: false, error: 'unreadable answer' };
          }
          if (!h.ok) {
            clearTimeout(timer);
            sock.destroy();
            reject(new OutboxError(EX_TEMPFAIL, `the queue daemon refused: ${h.error ?? 'no reason given'}`));
            return;
          }
          if (rest) opts.out.write(rest);
        } else opts.out.write(d);
      });
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      sock.once('close', () => {
        clearTimeout(timer);
        if (head === null) reject(new OutboxError(EX_TEMPFAIL, 'the queue daemon closed the connection without an answer'));
        else resolve();
      });
    });
  } finally {
    await fsp.unlink(tokenFile).catch(() => {});
  }
}
