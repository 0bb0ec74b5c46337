/**
 * relay/relay.ts — a relay URL in delivery's shape: parseRelayUrl() gives the endpoint (scheme,
 * host, port, user) of a URL that relay/url.ts checkRelayUrl accepts, and throws
 * OutboxError(EX_CONFIG) with one line otherwise; redactUrl() and describeEndpoint() word a relay
 * for messages. Pure.
 *
 * A password in the URL is refused (it would show in `ps e`, shell history and unit files): the
 * secret comes from password_file / password_command / password_env, or for the environment's
 * relay (relay/env.ts) OUTBOX_RELAY_PASSWORD_FILE; config/credentials.ts reads it.
 * Next: plan/routing.ts picks a relay for a recipient; relay/prepare.ts and relay/connect.ts connect to it.
 */
import { EX_CONFIG, OutboxError } from '../sysexits.js';
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
