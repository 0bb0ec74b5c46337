/**
 * queue/query-client.ts — asking the queue daemon (queue/query.ts answers) as a user who cannot
 * read the system spool: `mailq`, `outbox queue ...` and `sendmail -q` of an ordinary user.
 * This module owns the wire format; the server imports it, never the other way round, and it
 * imports no other queue module. Whether to ask is queue/access.ts mustAskDaemon().
 *
 * The conversation on run/query.sock (one request per connection, JSON lines):
 *   daemon -> {"v":2,"challenge":"<128 random bits, hex>"}      sent at once after accept()
 *   client    mkdir incoming/q.<challenge>, mode 0700            the proof (see below)
 *   client -> {"v":2,"op":"list"|"queue"|"flush","json":bool,"args":[...]}
 *   daemon -> {"ok":true} or {"ok":false,"error":"..."}, then the output, then it closes.
 * "list": the output is the mailq listing. "queue": JSON lines {"out":base64} / {"err":base64}
 * and a last {"exit":N}. "flush": a last {"exit":N} (the daemon tries the whole queue now).
 *
 * Why a directory, created after the challenge, proves the uid (README "Privilege model"): the
 * name is chosen by the daemon for this connection only, so nothing made before it, or for
 * another connection, can be at that name. An entry that appears there was put there by its
 * creator or moved there by rename(2); moving a directory to another parent needs write
 * permission on the directory itself (to update its ".."), and the daemon refuses a directory
 * that its group or others may write. So only the owner (or root) can have put it there: the
 * owner is the asking user. A regular file proves nothing (anyone who may write a file's parent
 * directory may move it), which is why protocol v1's token file was replaced.
 *
 * Client errors: OutboxError(EX_UNAVAILABLE) with one clear line when the daemon is not running;
 * EX_TEMPFAIL when it refuses or breaks off.
 */
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Config } from '../config/config.js';
import { EX_TEMPFAIL, EX_UNAVAILABLE, OutboxError } from '../sysexits.js';
import { INCOMING } from '../spool/drop.js';

export const QUERY_SOCKET = 'query.sock';
export const PROTOCOL_VERSION = 2;
export const CHALLENGE_RE = /^[0-9a-f]{32}$/;
/** The client gives up when the daemon sends nothing for this long. */
const IDLE_TIMEOUT_MS = 30_000;

/** Where the proof for a challenge lives, relative to the spool. Pure. */
export function proofPath(spool: string, challenge: string): string {
  return path.join(spool, INCOMING, `q.${challenge}`);
}

export interface QueryRequest {
  v: 2;
  op: string;
  json?: boolean;
  /** For "queue": the arguments of `outbox queue` (any -C is ignored: the daemon's config rules). */
  args?: string[];
}

/** Without a daemon: who can do it instead, and how. `what` is the command's own name. */
export function daemonUnavailable(why: string, what = 'mailq'): OutboxError {
  return new OutboxError(
    EX_UNAVAILABLE,
    `the queue daemon is not running (${why}); only root and the spool owner can read the queue directly: run "sudo ${what}", or start the daemon (systemctl start outbox)`,
  );
}

/** The client: ask the daemon, write its answer (after the head line) to `out`. */
export async function queryDaemon(
  config: Config,
  op: string,
  opts: { json: boolean; out: NodeJS.WritableStream; args?: string[]; what?: string },
): Promise<void> {
  const sockFile = path.join(config.spool, 'run', QUERY_SOCKET);
  const sock = net.createConnection(sockFile);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', () => resolve());
    sock.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? daemonUnavailable(`no listener on ${sockFile}`, opts.what) : e),
    );
  });
  let proof: string | null = null;
  try {
    await new Promise<void>((resolve, reject) => {
      let state: 'challenge' | 'head' | 'body' = 'challenge';
      let pending = '';
      let timer: NodeJS.Timeout;
      const fail = (e: Error) => {
        clearTimeout(timer);
        sock.destroy();
        reject(e);
      };
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => fail(new OutboxError(EX_TEMPFAIL, 'the queue daemon did not answer in time')), IDLE_TIMEOUT_MS);
      };
      arm();
      /** One line of the head (challenge or verdict); returns false when the conversation ended. */
      const onLine = (line: string): boolean => {
        let h: { ok?: boolean; error?: string; challenge?: unknown; v?: unknown };
        try {
          h = JSON.parse(line) as typeof h;
        } catch {
          h = { ok: false, error: 'unreadable answer' };
        }
        if (state === 'challenge') {
          if (h.v !== PROTOCOL_VERSION || typeof h.challenge !== 'string' || !CHALLENGE_RE.test(h.challenge)) {
            fail(new OutboxError(EX_TEMPFAIL, 'the queue daemon speaks another protocol version (restart it after an upgrade)'));
            return false;
          }
          const dir = proofPath(config.spool, h.challenge);
          // mkdir, not open: see the header. 0700 (the umask can only remove bits).
          fsp.mkdir(dir, 0o700).then(
            () => {
              proof = dir;
              sock.write(JSON.stringify({ v: PROTOCOL_VERSION, op, json: opts.json, ...(opts.args ? { args: opts.args } : {}) } satisfies QueryRequest) + '\n');
            },
            (e: NodeJS.ErrnoException) => fail(new OutboxError(EX_UNAVAILABLE, `cannot ask the queue daemon: ${e.code ?? e.message} on ${path.dirname(dir)}`)),
          );
          state = 'head';
          return true;
        }
        if (!h.ok) {
          fail(new OutboxError(EX_TEMPFAIL, `the queue daemon refused: ${h.error ?? 'no reason given'}`));
          return false;
        }
        state = 'body';
        return true;
      };
      const inBody = () => state === 'body';
      sock.on('data', (d: Buffer) => {
        arm();
        if (inBody()) {
          opts.out.write(d);
          return;
        }
        pending += d.toString('utf8');
        let nl: number;
        while (!inBody() && (nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (!onLine(line)) return;
        }
        if (inBody() && pending) {
          opts.out.write(pending);
          pending = '';
        }
      });
      sock.once('error', (e) => fail(e));
      sock.once('close', () => {
        clearTimeout(timer);
        if (state !== 'body') reject(new OutboxError(EX_TEMPFAIL, 'the queue daemon closed the connection without an answer'));
        else resolve();
      });
    });
  } finally {
    sock.destroy();
    // The daemon removes the proof when it checks it; this covers a conversation cut short.
    if (proof) await fsp.rmdir(proof).catch(() => {});
  }
}

/** A frame stream ({"out"|"err":base64} / {"exit":N} lines) decoded onto stdout and stderr. */
function frameDecoder(io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): { out: NodeJS.WritableStream; exit(): number | null } {
  let exit: number | null = null;
  let pending = '';
  const out = {
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
  return { out, exit: () => exit };
}

/** Run op ("queue" or "flush") through the daemon; its output is framed. Returns the exit status. */
export async function framedViaDaemon(
  config: Config,
  op: 'queue' | 'flush',
  args: string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
  what: string,
): Promise<number> {
  const frames = frameDecoder(io);
  await queryDaemon(config, op, { json: false, out: frames.out, args, what });
  const exit = frames.exit();
  if (exit === null) throw new OutboxError(EX_TEMPFAIL, 'the queue daemon did not finish its answer');
  return exit;
}
