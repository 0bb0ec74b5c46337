/**
 * config/relay.ts — what a relay setting means: URL parsing, the OUTBOX_RELAY* environment, and
 * reading the secret (password file with a permission check, password command, variable).
 *
 *   smtp+starttls://user@host[:587]   submission with STARTTLS required (the default scheme)
 *   smtps://user@host[:465]           implicit TLS
 *   smtp://host[:25]                  plain SMTP: only when written explicitly, and never AUTH
 *
 * A password in the URL is refused (it would show in `ps e`, shell history and unit files): use
 * OUTBOX_RELAY_PASSWORD_FILE or the file's password_file / password_command.
 *
 * Environment (containers and scripts configure delivery without a file):
 *   OUTBOX_RELAY                 the relay URL; it becomes the relay named "env" and the default
 *   OUTBOX_RELAY_PASSWORD_FILE   a file holding the password (mode 0600 or stricter)
 *   OUTBOX_RELAY_CA              a CA file trusted in addition to the system's
 *
 * Pure except readSecret(), which reads a file or runs a command. Throws OutboxError(EX_CONFIG)
 * with one line saying what to fix. Next: src/runner/routing.ts picks a relay for a recipient;
 * src/runner/smtp-client.ts connects to it.
 */
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { EX_CONFIG, OutboxError } from '../sysexits.js';
import type { RelaySettings } from './types.js';

export type RelayScheme = 'starttls' | 'smtps' | 'smtp';

export interface RelayEndpoint {
  scheme: RelayScheme;
  host: string;
  port: number;
  /** Percent-decoded user name; undefined: no AUTH. */
  user?: string;
}

const SCHEMES: Record<string, { scheme: RelayScheme; port: number }> = {
  'smtp+starttls:': { scheme: 'starttls', port: 587 },
  'submission:': { scheme: 'starttls', port: 587 },
  'smtps:': { scheme: 'smtps', port: 465 },
  'submissions:': { scheme: 'smtps', port: 465 },
  'smtp:': { scheme: 'smtp', port: 25 },
};

/** Parse a relay URL. A bare "host[:port]" is read as smtp+starttls://host[:port]. */
export function parseRelayUrl(url: string, what = 'relay'): RelayEndpoint {
  const text = url.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `smtp+starttls://${text}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new OutboxError(EX_CONFIG, `${what}: "${redactUrl(text)}" is not a relay URL (expected smtp+starttls://user@host:587, smtps://user@host:465 or smtp://host:25)`);
  }
  const s = SCHEMES[u.protocol.toLowerCase()];
  if (!s) {
    throw new OutboxError(EX_CONFIG, `${what}: unknown scheme "${u.protocol}" (expected smtp+starttls://, smtps:// or smtp://)`);
  }
  if (u.password) {
    throw new OutboxError(EX_CONFIG, `${what}: a password in the relay URL is refused; put it in a file named by OUTBOX_RELAY_PASSWORD_FILE (or password_file), mode 0600`);
  }
  if (!u.hostname) throw new OutboxError(EX_CONFIG, `${what}: the relay URL has no host`);
  if ((u.pathname && u.pathname !== '/') || u.search || u.hash) {
    throw new OutboxError(EX_CONFIG, `${what}: the relay URL must not have a path or query ("${redactUrl(text)}")`);
  }
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port ? Number(u.port) : s.port;
  const user = u.username ? decodeURIComponent(u.username) : undefined;
  if (s.scheme === 'smtp' && user !== undefined) {
    throw new OutboxError(EX_CONFIG, `${what}: smtp:// is plaintext and never sends AUTH; use smtp+starttls://${u.username}@${u.host} or smtps://`);
  }
  return { scheme: s.scheme, host, port, ...(user !== undefined ? { user } : {}) };
}

/** The URL with any password replaced, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

/** host[:port] as shown in logs: relay=host[ip]:port is built by the client once connected. */
export function describeEndpoint(e: RelayEndpoint): string {
  return `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
}

/** The relay given by OUTBOX_RELAY*, or null. Validates the URL at once. */
export function relayFromEnv(env: NodeJS.ProcessEnv): RelaySettings | null {
  const url = env.OUTBOX_RELAY?.trim();
  if (!url) return null;
  parseRelayUrl(url, 'OUTBOX_RELAY');
  return {
    name: 'env',
    url,
    ...(env.OUTBOX_RELAY_PASSWORD_FILE ? { passwordFile: env.OUTBOX_RELAY_PASSWORD_FILE } : {}),
    ...(env.OUTBOX_RELAY_CA ? { caFile: env.OUTBOX_RELAY_CA } : {}),
  };
}

/** Why a password file may not be used, or null when it is fine (mode, owner, type). */
export function passwordFileProblem(file: string, st: { mode: number; uid: number; isFile: boolean }, myUid: number): string | null {
  if (!st.isFile) return `${file} is not a regular file`;
  if ((st.mode & 0o077) !== 0) {
    return `${file} is readable or writable by group or others (mode ${(st.mode & 0o777).toString(8).padStart(3, '0')}); run: chmod 600 ${file}`;
  }
  if (myUid !== 0 && st.uid !== myUid && st.uid !== 0) return `${file} belongs to uid ${st.uid}, not to you (uid ${myUid}) or root`;
  return null;
}

/** A secret that could not be read: a configuration problem (temporary, loud). */
export class SecretError extends OutboxError {
  constructor(message: string) {
    super(EX_CONFIG, message);
  }
}

/**
 * The relay's password (or undefined when none is configured). Reads the file (after the
 * permission check), runs the command (no shell: split on whitespace), or reads the variable.
 */
export function readSecret(relay: RelaySettings, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (relay.passwordFile) {
    const file = relay.passwordFile;
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch (e) {
      throw new SecretError(`relay ${relay.name}: password file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const problem = passwordFileProblem(file, { mode: st.mode, uid: st.uid, isFile: st.isFile() }, process.getuid ? process.getuid() : 0);
    if (problem) throw new SecretError(`relay ${relay.name}: refusing password file: ${problem}`);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new SecretError(`relay ${relay.name}: password file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    // One line: the password, without the line break an editor adds.
    return text.replace(/\r?\n[\s\S]*$/, '');
  }
  if (relay.passwordCommand) return runSecretCommand(relay.name, 'password_command', relay.passwordCommand);
  if (relay.passwordEnv) {
    const v = env[relay.passwordEnv];
    if (v === undefined) throw new SecretError(`relay ${relay.name}: the variable ${relay.passwordEnv} (password_env) is not set`);
    return v;
  }
  return relay.password;
}

/** Run a configured command (argv split on whitespace, no shell) and return its first line. */
export function runSecretCommand(relayName: string, key: string, command: string): string {
  const argv = command.trim().split(/\s+/);
  try {
    const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 20 });
    return out.replace(/\r?\n[\s\S]*$/, '');
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { status?: number };
    const why = err.status !== undefined && err.status !== null ? `exited with status ${err.status}` : (err.code ?? 'failed');
    throw new SecretError(`relay ${relayName}: ${key} "${argv[0]}" ${why}`);
  }
}
