/**
 * config/credentials.ts — read a relay's secret: inline, password_file, password_command or
 * password_env. Only the runner and the diagnostics (`outbox check`, `outbox config check`)
 * call this; submitters never read secrets.
 *
 * Rules (README.md "Credentials"):
 *  - password_file: a regular file, not accessible to others, and accessible to its group only
 *    when that group is one of the reading process's groups (the runner's group). The first line
 *    is the password (a trailing line break is dropped). Root checking for the spool owner
 *    (`config check`, `check`) judges as that user (secretReader), so the verdict is delivery's.
 *  - password_command: run with /bin/sh -c (so msmtp's passwordeval lines work unchanged; the
 *    command comes from the administrator's file, never from a message), stdin closed, killed
 *    with its process group after password_command_timeout (default 10 s). Exit 0 and a
 *    non-empty first line are required. Its output is never logged; its stderr is discarded.
 *  - password_env: the variable must be set.
 * Errors throw OutboxError(EX_CONFIG) naming FILE:LINE: relay.NAME.KEY and what to fix, and never
 * contain the secret.
 */
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { EX_CONFIG, OutboxError } from '../sysexits.js';
import type { RelaySettings } from './types.js';
import { currentGids, secretFileProblem } from './secret-file.js';
import { Locator } from './locate.js';
import { targetIdentity } from '../spool/privileges.js';
import { groupName } from '../passwd.js';

export const DEFAULT_SECRET_COMMAND_TIMEOUT_MS = 10_000;

export interface SecretContext {
  /** The configuration file the relay came from (for FILE:LINE in messages), or null. */
  configFile: string | null;
  env?: NodeJS.ProcessEnv;
  gids?: number[];
  /** Judge password files as this user would (root checking for the spool owner), see secretReader(). */
  as?: SecretReader;
}

/** The user whose rights decide whether a password file is fit: the one that delivers mail. */
export interface SecretReader {
  uid: number;
  gids: number[];
  group: string;
}

/**
 * When root runs `config check` or `check` on a system spool owned by another user (`outbox`),
 * that user delivers the mail (spool/privileges.ts drops to it, with its primary group only):
 * judge the secret as it would, so that a root:outbox 0640 file is fit and a root:root 0600 one
 * is not. Else undefined: the process judges as itself.
 */
export function secretReader(config: { system: boolean; spool: string }): SecretReader | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(config.spool);
  } catch {
    return undefined;
  }
  const t = targetIdentity(process.getuid ? process.getuid() : -1, config.system, { uid: st.uid, gid: st.gid });
  return t ? { uid: t.uid, gids: [t.gid], group: groupName(t.gid) } : undefined;
}

/** Can `r` read a file with this owner, group and mode (the classic owner/group/other order)? */
function canRead(st: { uid: number; gid: number; mode: number }, r: SecretReader): boolean {
  if (st.uid === r.uid) return (st.mode & 0o400) !== 0;
  if (r.gids.includes(st.gid)) return (st.mode & 0o040) !== 0;
  return (st.mode & 0o004) !== 0;
}

/** This process as the reader of its own secrets (for the fix a refusal names). */
function currentReader(): { uid: number; group: string } {
  return { uid: process.getuid ? process.getuid() : -1, group: groupName(process.getgid ? process.getgid() : -1) };
}

function where(ctx: SecretContext, relay: RelaySettings, key: string): string {
  if (relay.name === 'env' || !ctx.configFile) return `relay ${relay.name}: ${key}`;
  let line: number | undefined;
  try {
    line = new Locator(fs.readFileSync(ctx.configFile, 'utf8')).line(['relay', relay.name, key]);
  } catch {
    line = relay.line;
  }
  return `${ctx.configFile}${line ? `:${line}` : ''}: relay.${relay.name}.${key}`;
}

function fail(ctx: SecretContext, relay: RelaySettings, key: string, message: string): never {
  throw new OutboxError(EX_CONFIG, `${where(ctx, relay, key)}: ${message}`);
}

/** The first line of a secret's text. */
function firstLine(text: string): string {
  return text.replace(/\r?\n[\s\S]*$/, '');
}

export function readPasswordFile(relay: RelaySettings, file: string, ctx: SecretContext): string {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES'
          ? 'cannot be read by this user (permission denied)'
          : code === 'ELOOP'
            ? 'is a symbolic link (name the file itself)'
            : (e as Error).message;
    fail(ctx, relay, 'password_file', `${file} ${why}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) fail(ctx, relay, 'password_file', `${file} is not a regular file`);
    const r = ctx.as;
    if (r && !canRead(st, r)) {
      fail(
        ctx,
        relay,
        'password_file',
        `${file} cannot be read by the user that delivers mail (uid ${r.uid}, the spool's owner); fix with: chgrp ${r.group} ${file} && chmod 640 ${file}`,
      );
    }
    const gids = r?.gids ?? ctx.gids ?? currentGids();
    // The fix is named for the delivering user (looked up only when there is a problem).
    const problem = secretFileProblem(st, gids) && secretFileProblem(st, gids, r ?? currentReader());
    if (problem) fail(ctx, relay, 'password_file', `refusing ${file}: it ${problem.replace(/FILE/g, file)}`);
    const pw = firstLine(fs.readFileSync(fd, 'utf8'));
    if (pw === '') fail(ctx, relay, 'password_file', `${file} is empty`);
    return pw;
  } finally {
    fs.closeSync(fd);
  }
}

/** Run a secret command with a time limit; resolve with its first line of output. */
export function runSecretCommand(relay: RelaySettings, key: string, command: string, ctx: SecretContext): Promise<string> {
  const timeoutMs = relay.passwordCommandTimeoutMs ?? DEFAULT_SECRET_COMMAND_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    let out = '';
    let settled = false;
    let timedOut = false;
    const done = (err: OutboxError | null, value?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value!);
    };
    const err = (m: string) => {
      try {
        fail(ctx, relay, key, m);
      } catch (e) {
        return e as OutboxError;
      }
    };
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'ignore'], detached: true, env: ctx.env ?? process.env });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      if (out.length < 65536) out += d;
    });
    child.on('error', (e) => done(err(`the command could not be started: ${e.message}`)!));
    child.on('close', (code, signal) => {
      const secs = (timeoutMs / 1000).toString();
      if (timedOut) return done(err(`the command did not finish within ${secs} s and was killed (raise password_command_timeout, or fix the command)`)!);
      if (signal) return done(err(`the command was killed by ${signal}`)!);
      if (code !== 0) return done(err(`the command failed with exit status ${code}`)!);
      const line = firstLine(out);
      if (line === '') return done(err('the command printed nothing')!);
      done(null, line);
    });
  });
}

/** The relay's password, or undefined when it has none. Throws OutboxError(EX_CONFIG). */
export async function resolveSecret(relay: RelaySettings, ctx: SecretContext): Promise<string | undefined> {
  if (relay.passwordFile) return readPasswordFile(relay, relay.passwordFile, ctx);
  if (relay.passwordCommand) return runSecretCommand(relay, 'password_command', relay.passwordCommand, ctx);
  if (relay.passwordEnv) {
    const v = (ctx.env ?? process.env)[relay.passwordEnv];
    if (v === undefined || v === '') fail(ctx, relay, 'password_env', `the environment variable ${relay.passwordEnv} is not set`);
    return v;
  }
  return relay.password;
}
