/**
 * relay/relay.ts — what a relay setting means: URL parsing, the OUTBOX_RELAY* environment, and
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
 *   OUTBOX_RELAY_PASSWORD_FILE   a file holding the password (not accessible to others; see
 *                                config/credentials.ts)
 *   OUTBOX_RELAY_CA              a CA file trusted in addition to the system's
 *   OUTBOX_RELAY_FORCE_SENDER    force_sender: every sender goes out as this address
 *   OUTBOX_RELAY_LOGIN_SENDER    login_sender: yes (default) / no, the login-address rule
 *                                (plan/rewrite.ts)
 * The password has only the file form: a variable's value would show in `ps e`, as a password
 * in the URL would.
 *
 * Pure. Secrets (OUTBOX_RELAY_PASSWORD_FILE included) are read by config/credentials.ts, under
 * the same rules as the file's password_file. Throws OutboxError(EX_CONFIG) with one line saying
 * what to fix. Next: src/runner/routing.ts picks a relay for a recipient;
 * src/relay/session.ts connects to it.
 */
import * as fs from 'node:fs';
import { EX_CONFIG, OutboxError } from '../sysexits.js';
import type { RelaySettings } from '../config/types.js';
import { isMailbox } from '../message/address.js';
import { checkRelayUrl } from './url.js';

export type RelayScheme = 'starttls' | 'smtps' | 'smtp';

export interface RelayEndpoint {
  scheme: RelayScheme;
  host: string;
  port: number;
  /** Percent-decoded user name; undefined: no AUTH. */
  user?: string;
}

/**
 * Parse a relay URL (a bare "host[:port]" is read as smtp+starttls://host[:port]). The form is
 * checked by relay/url.ts checkRelayUrl, the one relay-URL grammar of the program (the file
 * loader, `outbox check` and the runner all use it); this gives it the runner's shape and throws.
 */
export function parseRelayUrl(url: string, what = 'relay'): RelayEndpoint {
  const u = checkRelayUrl(url.trim());
  if ('error' in u) throw new OutboxError(EX_CONFIG, `${what}: ${u.error}`);
  const scheme: RelayScheme = u.tls === 'starttls' ? 'starttls' : u.tls === 'implicit' ? 'smtps' : 'smtp';
  return { scheme, host: u.host, port: u.port, ...(u.user !== undefined ? { user: u.user } : {}) };
}

/** The URL with any password replaced, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

/** host[:port] as shown in logs: relay=host[ip]:port is built by the client once connected. */
export function describeEndpoint(e: RelayEndpoint): string {
  return `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
}

/** A yes/no variable: undefined when unset; throws EX_CONFIG for anything else. */
function envSwitch(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const v = env[name]?.trim().toLowerCase();
  if (!v) return undefined;
  if (['yes', 'true', 'on', '1'].includes(v)) return true;
  if (['no', 'false', 'off', '0'].includes(v)) return false;
  throw new OutboxError(EX_CONFIG, `${name}: expected yes or no, not ${JSON.stringify(env[name])}`);
}

/** The relay given by OUTBOX_RELAY*, or null. Validates the URL and the other variables at once. */
export function relayFromEnv(env: NodeJS.ProcessEnv): RelaySettings | null {
  const url = env.OUTBOX_RELAY?.trim();
  if (!url) return null;
  parseRelayUrl(url, 'OUTBOX_RELAY');
  const force = env.OUTBOX_RELAY_FORCE_SENDER?.trim();
  if (force && !isMailbox(force)) throw new OutboxError(EX_CONFIG, `OUTBOX_RELAY_FORCE_SENDER: must be an address user@domain, not ${JSON.stringify(force)}`);
  const loginSender = envSwitch(env, 'OUTBOX_RELAY_LOGIN_SENDER');
  return {
    name: 'env',
    url,
    ...(env.OUTBOX_RELAY_PASSWORD_FILE ? { passwordFile: env.OUTBOX_RELAY_PASSWORD_FILE } : {}),
    ...(env.OUTBOX_RELAY_CA ? { caFile: env.OUTBOX_RELAY_CA } : {}),
    ...(force ? { forceSender: force } : {}),
    ...(loginSender !== undefined ? { loginSender } : {}),
  };
}
