/**
 * config/file.ts — read and validate the TOML configuration file.
 *
 * Why TOML: it is commented and read by people (`key = "value"` under `[section]` headers),
 * has one obvious way to write a list and a table, and smol-toml parses it strictly with line
 * numbers in its syntax errors and no dependencies (fast enough for every sendmail call:
 * ~0.3 ms for the example file with every key: node scripts/bench-config.mjs).
 *
 * Every key of the file is a row in one of the tables below (TOP, RELAY, ROUTE, DELIVERY,
 * LISTENER, SENDER). An unknown key is an error with a "did you mean" suggestion; a value of
 * the wrong type or form is an error. Errors name the file, the line and the key:
 *     /etc/outbox/outbox.conf:12: relay.gmail.url: unknown scheme "smtpx" (expected ...)
 * and throw OutboxError(EX_CONFIG, 78). See README.md "Configuration" and outbox.conf.example.
 *
 * Credentials are only *described* here (which file, which command, which variable). Reading
 * them is config/credentials.ts, done by the runner and the diagnostics, never by submitters.
 * The one check made here is cheap and protects everyone: a file that holds an inline
 * `password` must not be readable by others (see secretFileProblem()).
 */
import * as fs from 'node:fs';
import { parse, TomlError } from 'smol-toml';
import { EX_CONFIG, OutboxError } from '../sysexits.js';
import type { DeliveryMode } from '../cli/flags.js';
import type { AuthMechanism, DeliverySettings, ListenerSettings, OAuthSettings, RelaySettings, RouteRule, SenderTableEntry } from './types.js';
import { Locator, showPath, type KeyPath } from './locate.js';
import { LIMIT_PRESET_NAMES, parseRate } from './limits.js';
import { bareAddress, isDomain, isMailbox } from '../message/address.js';
import { parseDuration } from '../duration.js';

/** Settings as they appear in the file (camelCase here, snake_case in TOML). */
export interface FileSettings {
  hostname?: string;
  domain?: string;
  spool?: string;
  delivery?: DeliveryMode;
  maxMessageSize?: number;
  orphanGraceSeconds?: number;
  lockStaleMs?: number;
  /** Per-uid limits of the system spool (spool/usage.ts; 0 = no limit). */
  maxPendingPerUser?: number;
  maxQueuedMessagesPerUser?: number;
  maxQueuedBytesPerUser?: number;
  /** [relay.NAME] tables, in file order. */
  relays?: Record<string, RelaySettings>;
  /** Name of the relay used when no route matches (default: the first relay). */
  defaultRelay?: string;
  routes?: RouteRule[];
  deliverySettings?: DeliverySettings;
  listener?: ListenerSettings;
  /** /etc/aliases-format file (default /etc/aliases when it exists). */
  aliasesFile?: string;
  /** Domains that mean "this host": user@these is local (aliased, then qualified with `domain`). */
  localDomains?: string[];
  /** Rewrite local senders (envelope, From:, Sender:) to this domain. */
  masquerade?: string;
  /** Per-correspondent sender addresses ([sender_table]). */
  senderTable?: SenderTableEntry[];
  /** Where undeliverable bounces go (runner/bounce.ts postmasterAddress(); OUTBOX_POSTMASTER overrides it). */
  postmaster?: string;
}

type Spec =
  | { kind: 'string' }
  | { kind: 'path' }
  | { kind: 'domain' }
  | { kind: 'address' }
  | { kind: 'integer'; min?: number }
  | { kind: 'number'; min: number; max: number }
  | { kind: 'duration' }
  | { kind: 'durations' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'boolean' }
  | { kind: 'strings'; item: 'string' | 'domain' | 'relay' | 'hostport' | 'fingerprint' | 'domainpattern' | 'senderpattern' };

interface Row {
  key: string;
  spec: Spec;
}

const row = (key: string, spec: Spec): Row => ({ key, spec });

/** Top level keys (besides the [relay], [[route]], [delivery], [listener], [sender_table] tables). */
const TOP: Record<string, Row> = {
  hostname: row('hostname', { kind: 'domain' }),
  domain: row('domain', { kind: 'domain' }),
  spool: row('spool', { kind: 'path' }),
  delivery: row('delivery', { kind: 'enum', values: ['background', 'queue', 'interactive'] }),
  max_message_size: row('maxMessageSize', { kind: 'integer' }),
  orphan_grace_seconds: row('orphanGraceSeconds', { kind: 'integer' }),
  lock_stale_ms: row('lockStaleMs', { kind: 'integer', min: 1000 }),
  max_pending_per_user: row('maxPendingPerUser', { kind: 'integer', min: 0 }),
  max_queued_messages_per_user: row('maxQueuedMessagesPerUser', { kind: 'integer', min: 0 }),
  max_queued_bytes_per_user: row('maxQueuedBytesPerUser', { kind: 'integer', min: 0 }),
  default_relay: row('defaultRelay', { kind: 'string' }),
  aliases: row('aliasesFile', { kind: 'path' }),
  local_domains: row('localDomains', { kind: 'strings', item: 'domain' }),
  masquerade: row('masquerade', { kind: 'domain' }),
  postmaster: row('postmaster', { kind: 'address' }),
};
const TABLES = ['relay', 'route', 'listener', 'sender_table'];

export const AUTH_MECHANISMS: readonly AuthMechanism[] = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2', 'OAUTHBEARER'];

const OAUTH: Record<string, Row> = {
  provider: row('provider', { kind: 'enum', values: ['google', 'microsoft', 'custom'] }),
  client_id: row('clientId', { kind: 'string' }),
  client_secret_file: row('clientSecretFile', { kind: 'path' }),
  tenant: row('tenant', { kind: 'string' }),
  token_url: row('tokenUrl', { kind: 'string' }),
  device_url: row('deviceUrl', { kind: 'string' }),
  scope: row('scope', { kind: 'string' }),
  token_file: row('tokenFile', { kind: 'path' }),
  grant: row('grant', { kind: 'enum', values: ['device', 'client_credentials'] }),
};

const RELAY: Record<string, Row> = {
  url: row('url', { kind: 'string' }),
  password: row('password', { kind: 'string' }),
  password_file: row('passwordFile', { kind: 'path' }),
  password_command: row('passwordCommand', { kind: 'string' }),
  password_env: row('passwordEnv', { kind: 'string' }),
  password_command_timeout: row('passwordCommandTimeoutMs', { kind: 'duration' }),
  oauth_token_command: row('oauthTokenCommand', { kind: 'string' }),
  auth: row('authMechanism', { kind: 'enum', values: AUTH_MECHANISMS }),
  ca_file: row('caFile', { kind: 'path' }),
  fingerprint: row('fingerprints', { kind: 'strings', item: 'fingerprint' }),
  client_cert: row('clientCert', { kind: 'path' }),
  client_key: row('clientKey', { kind: 'path' }),
  ehlo_name: row('ehloName', { kind: 'domain' }),
  connect_timeout: row('connectTimeoutMs', { kind: 'duration' }),
  greeting_timeout: row('greetingTimeoutMs', { kind: 'duration' }),
  command_timeout: row('commandTimeoutMs', { kind: 'duration' }),
  data_timeout: row('dataTimeoutMs', { kind: 'duration' }),
  max_connections: row('maxConnections', { kind: 'integer', min: 1 }),
  fallbacks: row('fallbacks', { kind: 'strings', item: 'relay' }),
  force_sender: row('forceSender', { kind: 'address' }),
  login_sender: row('loginSender', { kind: 'boolean' }),
  limits: row('limits', { kind: 'enum', values: LIMIT_PRESET_NAMES }),
  rate: row('rate', { kind: 'string' }),
  daily_messages: row('dailyMessages', { kind: 'integer', min: 1 }),
  daily_recipients: row('dailyRecipients', { kind: 'integer', min: 1 }),
};

const ROUTE_KEYS = ['domain', 'sender', 'from', 'relay'];

const DELIVERY: Record<string, Row> = {
  mode: row('mode', { kind: 'enum', values: ['background', 'queue', 'interactive'] }),
  retry_schedule: row('retryScheduleMs', { kind: 'durations' }),
  retry_jitter: row('retryJitter', { kind: 'number', min: 0, max: 1 }),
  max_queue_lifetime: row('maxQueueLifetimeMs', { kind: 'duration' }),
  delay_warning: row('delayWarningMs', { kind: 'duration' }),
  bounce_size_limit: row('bounceSizeLimit', { kind: 'integer' }),
  max_parallel: row('maxParallel', { kind: 'integer', min: 1 }),
  scan_interval: row('scanIntervalMs', { kind: 'duration' }),
  linger: row('lingerMs', { kind: 'duration' }),
};

const LISTENER: Record<string, Row> = {
  listen: row('listen', { kind: 'strings', item: 'hostport' }),
  auth_users_file: row('authUsersFile', { kind: 'path' }),
  tls_cert: row('tlsCert', { kind: 'path' }),
  tls_key: row('tlsKey', { kind: 'path' }),
  max_clients: row('maxClients', { kind: 'integer', min: 1 }),
  idle_timeout: row('idleTimeoutMs', { kind: 'duration' }),
  sender_login_match: row('senderLoginMatch', { kind: 'enum', values: ['remote', 'always', 'never'] }),
};

const SENDER_KEYS = ['from', 'reply_to'];

/** Every key the file may hold, with its section, for "did you mean" across sections. */
export const KNOWN_KEYS = {
  top: [...Object.keys(TOP), ...TABLES],
  relay: Object.keys(RELAY),
  route: ROUTE_KEYS,
  delivery: Object.keys(DELIVERY),
  listener: Object.keys(LISTENER),
  oauth: ['oauth', ...Object.keys(OAUTH)],
  sender: SENDER_KEYS,
};

/** Levenshtein distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const w = word.toLowerCase().replace(/-/g, '_');
  for (const c of candidates) {
    const dist = editDistance(w, c);
    if (dist < bestD) {
      best = c;
      bestD = dist;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** The 1-based line of the first line in `text` that sets top-level `key` (kept for callers). */
export function lineOf(text: string, key: string): number | undefined {
  return new Locator(text).line([key]);
}

/** Error for a key of a file: `FILE:LINE: KEY: message`, exit 78. */
export function configError(file: string, text: string | Locator, key: string | KeyPath, message: string): OutboxError {
  const loc = typeof text === 'string' ? new Locator(text) : text;
  const p = typeof key === 'string' ? [key] : key;
  const line = loc.line(p);
  return new OutboxError(EX_CONFIG, `${file}${line ? `:${line}` : ''}: ${showPath(p)}: ${message}`);
}

export interface ParsedRelayUrl {
  scheme: 'smtp+starttls' | 'smtps' | 'smtp';
  /** 'starttls' | 'implicit' | 'none' */
  tls: 'starttls' | 'implicit' | 'none';
  host: string;
  port: number;
  user?: string;
}

const SCHEMES: Record<string, { tls: ParsedRelayUrl['tls']; port: number }> = {
  'smtp+starttls': { tls: 'starttls', port: 587 },
  smtps: { tls: 'implicit', port: 465 },
  smtp: { tls: 'none', port: 25 },
  submission: { tls: 'starttls', port: 587 },
  submissions: { tls: 'implicit', port: 465 },
};

/**
 * Check a relay URL's form: smtp+starttls://[user@]host[:port] (port 587 by default),
 * smtps://[user@]host[:port] (465), smtp://host[:port] (25, plaintext, never AUTH).
 * Returns the parts, or an error message. The runner's parseRelayUrl (relay/relay.ts) wraps this.
 */
export function checkRelayUrl(url: string): ParsedRelayUrl | { error: string } {
  // A bare host[:port] means smtp+starttls.
  const full = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url) ? url : /^[A-Za-z0-9.[\]:-]+$/.test(url) ? `smtp+starttls://${url}` : url;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(full);
  if (!m) return { error: `"${url}" is not a URL (expected smtp+starttls://user@host:587, smtps://user@host:465 or smtp://host:25)` };
  const scheme = m[1]!.toLowerCase();
  const s = SCHEMES[scheme];
  if (!s) return { error: `unknown scheme "${scheme}" (expected smtp+starttls, smtps or smtp)` };
  let rest = m[2]!;
  if (/[/?#]/.test(rest.replace(/\/$/, ''))) return { error: 'a relay URL has no path, query or fragment' };
  rest = rest.replace(/\/$/, '');
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (userinfo.includes(':')) {
      return {
        error: 'the URL holds a password: remove it and use password_file, password_command or password_env (for OUTBOX_RELAY: OUTBOX_RELAY_PASSWORD_FILE)',
      };
    }
    try {
      user = decodeURIComponent(userinfo);
    } catch {
      return { error: `bad %-escape in the user name` };
    }
    if (user === '') return { error: 'empty user name before "@"' };
  }
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end < 0) return { error: 'unclosed "[" in the host' };
    host = rest.slice(1, end);
    const after = rest.slice(end + 1);
    if (after !== '' && !after.startsWith(':')) return { error: `unexpected "${after}" after the host` };
    portText = after ? after.slice(1) : undefined;
    if (!/^[0-9A-Fa-f:.]+$/.test(host)) return { error: `"[${host}]" is not an IPv6 address` };
  } else {
    const colon = rest.lastIndexOf(':');
    host = colon >= 0 ? rest.slice(0, colon) : rest;
    portText = colon >= 0 ? rest.slice(colon + 1) : undefined;
    if (host === '') return { error: 'no host name' };
    if (!isDomain(host)) return { error: `"${host}" is not a host name` };
  }
  let port = s.port;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return { error: `"${portText}" is not a port number (1-65535)` };
    }
    port = Number(portText);
  }
  if (s.tls === 'none' && user !== undefined) {
    return { error: 'smtp:// is plaintext and never authenticates: use smtp+starttls:// or smtps:// to log in' };
  }
  const canonical = s.tls === 'starttls' ? 'smtp+starttls' : s.tls === 'implicit' ? 'smtps' : 'smtp';
  return { scheme: canonical, tls: s.tls, host, port, ...(user !== undefined ? { user } : {}) };
}

/** SHA-256 fingerprint: 64 hex digits, colons optional; returned as upper-case AA:BB:.. */
export function normalizeFingerprint(s: string): string | null {
  const hex = s.replace(/^sha256[:/]/i, '').replace(/:/g, '');
  if (!/^[0-9A-Fa-f]{64}$/.test(hex)) return null;
  return hex.toUpperCase().match(/../g)!.join(':');
}

/**
 * What is wrong with a secret-holding file's permissions, or null (owner/group rules in README).
 * The fix named is one that leaves the file readable by the user that delivers mail (`runner`,
 * when known): `chmod 600` for a file it owns; for a file someone else owns (root:outbox, as the
 * README's privilege table recommends), its group must be the runner's and the mode 640.
 */
export function secretFileProblem(
  st: { mode: number; gid: number; uid?: number },
  runnerGids: number[],
  runner?: { uid: number; group: string },
): string | null {
  const mode = st.mode & 0o777;
  const octal = mode.toString(8).padStart(4, '0');
  const groupOk = runnerGids.includes(st.gid);
  const ownedByRunner = !runner || st.uid === undefined || st.uid === runner.uid;
  const fix = ownedByRunner ? 'chmod 600 FILE' : groupOk ? 'chmod 640 FILE' : `chgrp ${runner.group} FILE && chmod 640 FILE`;
  if (mode & 0o007) return `is readable or writable by others (mode ${octal}); fix with: ${fix}`;
  if (mode & 0o070 && !groupOk) {
    return `is accessible to its group (gid ${st.gid}, mode ${octal}), which is not the group of the user that delivers mail; fix with: ${fix}${ownedByRunner ? ' (or chgrp it to that group)' : ''}`;
  }
  return null;
}

/** The groups of the current process (the runner's when the runner checks). */
export function currentGids(): number[] {
  const g = new Set<number>();
  if (process.getgid) g.add(process.getgid());
  if (process.getegid) g.add(process.getegid());
  if (process.getgroups) for (const x of process.getgroups()) g.add(x);
  return [...g];
}

/** A duration in the file: a TOML number of seconds (30, 0.5) or a string (duration.ts). */
function durationValue(v: unknown): number | null {
  return typeof v === 'number' || typeof v === 'string' ? parseDuration(String(v)) : null;
}

class Reader {
  private locator: Locator | undefined;
  constructor(
    readonly file: string,
    readonly text: string,
  ) {}

  /** Built on first use (errors, and the line of each relay and route): not on every parse. */
  get loc(): Locator {
    return (this.locator ??= new Locator(this.text));
  }

  fail(path: KeyPath, message: string): never {
    throw configError(this.file, this.loc, path, message);
  }

  unknown(path: KeyPath, name: string, known: string[]): never {
    const s = suggest(name, known);
    this.fail([...path, name], `unknown key${s ? ` (did you mean "${s}"?)` : ''}`);
  }

  table(path: KeyPath, v: unknown): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Date) {
      this.fail(path, `must be a table ([${showPath(path)}] followed by key = value lines)`);
    }
    return v as Record<string, unknown>;
  }

  value(path: KeyPath, spec: Spec, v: unknown): unknown {
    switch (spec.kind) {
      case 'string':
      case 'path':
        if (typeof v !== 'string' || v === '') this.fail(path, 'must be a non-empty string');
        if (/[\x00\r\n]/.test(v)) this.fail(path, 'may not hold a line break or NUL');
        if (spec.kind === 'path' && !v.startsWith('/')) this.fail(path, `must be an absolute path (starting with /), not "${v}"`);
        return v;
      case 'domain':
        if (typeof v !== 'string' || !isDomain(v)) this.fail(path, `must be a domain name, not ${JSON.stringify(v)}`);
        return v.replace(/\.$/, '');
      case 'address':
        if (typeof v !== 'string' || !isMailbox(v)) this.fail(path, `must be an address user@domain, not ${JSON.stringify(v)}`);
        return v;
      case 'integer': {
        const min = spec.min ?? 0;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.fail(path, `must be a whole number >= ${min}`);
        return v;
      }
      case 'number':
        if (typeof v !== 'number' || !(v >= spec.min && v <= spec.max)) this.fail(path, `must be a number from ${spec.min} to ${spec.max}`);
        return v;
      case 'duration': {
        const d = durationValue(v);
        if (d === null) this.fail(path, `must be a duration: seconds (30) or a string like "30s", "5m", "1h30m", "2d", not ${JSON.stringify(v)}`);
        return d;
      }
      case 'durations': {
        const list = Array.isArray(v) ? v : [v];
        if (list.length === 0) this.fail(path, 'must list at least one duration');
        return list.map((x) => {
          const d = durationValue(x);
          if (d === null || d === 0) this.fail(path, `must be a list of durations like ["5m", "30m", "2h"], not ${JSON.stringify(x)}`);
          return d;
        });
      }
      case 'boolean':
        if (typeof v !== 'boolean') this.fail(path, `must be true or false, not ${JSON.stringify(v)}`);
        return v;
      case 'enum':
        if (typeof v !== 'string' || !spec.values.includes(v)) {
          const s = typeof v === 'string' ? suggest(v, spec.values) : undefined;
          this.fail(path, `must be one of ${spec.values.map((x) => `"${x}"`).join(', ')}${s ? ` (did you mean "${s}"?)` : ''}`);
        }
        return v;
      case 'strings': {
        const list = Array.isArray(v) ? v : [v];
        return list.map((x) => {
          if (typeof x !== 'string' || x === '') this.fail(path, 'must be a string or a list of strings');
          switch (spec.item) {
            case 'domain':
              if (!isDomain(x)) this.fail(path, `"${x}" is not a domain name`);
              return x.toLowerCase().replace(/\.$/, '');
            case 'domainpattern': {
              const d = x.startsWith('.') ? x.slice(1) : x;
              if (!isDomain(d)) this.fail(path, `"${x}" is not a domain ("example.com") or subdomain pattern (".example.com")`);
              return x.toLowerCase().replace(/\.$/, '');
            }
            case 'senderpattern': {
              const ok = x.startsWith('@') ? isDomain(x.slice(1)) : x.includes('@') ? isMailbox(x) : isDomain(x.replace(/^\./, ''));
              if (!ok) this.fail(path, `"${x}" is not an address, "@domain", "domain" or ".domain"`);
              return x.includes('@') && !x.startsWith('@') ? x : x.toLowerCase();
            }
            case 'hostport':
              if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(x)) this.fail(path, `"${x}" is not host:port (e.g. "127.0.0.1:10587", "[::1]:10587")`);
              return x;
            case 'fingerprint': {
              const f = normalizeFingerprint(x);
              if (!f) this.fail(path, `"${x}" is not a SHA-256 fingerprint (64 hex digits, colons optional)`);
              return f;
            }
            default:
              if (/[\x00\r\n]/.test(x)) this.fail(path, 'may not hold a line break or NUL');
              return x;
          }
        });
      }
    }
  }

  section<T>(path: KeyPath, v: unknown, rows: Record<string, Row>): T {
    const t = this.table(path, v);
    const out: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(t)) {
      const r = rows[name];
      if (!r) this.unknown(path, name, Object.keys(rows));
      out[r.key] = this.value([...path, name], r.spec, value);
    }
    return out as T;
  }
}

function readRelay(r: Reader, name: string, v: unknown): RelaySettings {
  const path = ['relay', name];
  if (!/^[A-Za-z0-9_-]+$/.test(name)) r.fail(path, 'a relay name is letters, digits, "-" and "_"');
  if (name === 'hold' || name === 'env') r.fail(path, `"${name}" is reserved (hold = keep in the queue; env = OUTBOX_RELAY)`);
  const { oauth: oauthTable, ...rest } = r.table(path, v);
  const s = r.section<Omit<RelaySettings, 'name'>>(path, rest, RELAY);
  if (oauthTable !== undefined) s.oauth = readOauth(r, [...path, 'oauth'], oauthTable);
  if (s.url === undefined) r.fail(path, 'url is required (e.g. url = "smtp+starttls://user@smtp.example.com:587")');
  const u = checkRelayUrl(s.url);
  if ('error' in u) r.fail([...path, 'url'], u.error);
  const sources = (['password', 'passwordFile', 'passwordCommand', 'passwordEnv'] as const).filter((k) => s[k] !== undefined);
  if (sources.length > 1) r.fail([...path, 'password'], 'give at most one of password, password_file, password_command, password_env');
  if ((sources.length > 0 || s.oauthTokenCommand) && u.user === undefined) {
    r.fail([...path, 'url'], 'a password is configured but the URL names no user (smtp+starttls://USER@host)');
  }
  if (s.oauth && s.oauthTokenCommand) r.fail([...path, 'oauth'], 'give either oauth_token_command or an [relay.NAME.oauth] table, not both');
  if (s.oauth && u.user === undefined) r.fail([...path, 'url'], 'OAuth needs the account in the URL (smtp+starttls://me%40example.com@host)');
  if (s.oauth && s.authMechanism !== 'XOAUTH2' && s.authMechanism !== 'OAUTHBEARER')
    r.fail([...path, 'auth'], 'an [relay.NAME.oauth] table needs auth = "XOAUTH2" or "OAUTHBEARER"');
  if ((s.authMechanism === 'XOAUTH2' || s.authMechanism === 'OAUTHBEARER') && !s.oauthTokenCommand && !s.oauth) {
    r.fail([...path, 'auth'], `${s.authMechanism} needs an [relay.NAME.oauth] table (or oauth_token_command)`);
  }
  if ((s.clientCert === undefined) !== (s.clientKey === undefined))
    r.fail([...path, s.clientCert ? 'client_key' : 'client_cert'], 'client_cert and client_key go together');
  if (s.rate !== undefined && parseRate(s.rate) === null)
    r.fail([...path, 'rate'], `must be messages per time, like "30/min", "1/s" or "2000/day", not ${JSON.stringify(s.rate)}`);
  if (s.passwordEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(s.passwordEnv)) r.fail([...path, 'password_env'], 'must be an environment variable name');
  const line = r.loc.line(path);
  return { name, ...s, ...(line ? { line } : {}) };
}

/** https everywhere, except a token service on this machine (a local proxy, tests). */
export function endpointProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `"${url}" is not a URL`;
  }
  if (u.protocol === 'https:') return null;
  if (u.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname)) return null;
  return `"${url}" must be https:// (plain http only for a service on this machine)`;
}

function readOauth(r: Reader, path: KeyPath, v: unknown): OAuthSettings {
  const o = r.section<Partial<OAuthSettings>>(path, v, OAUTH);
  if (o.provider === undefined) r.fail(path, 'provider is required: "google", "microsoft" or "custom"');
  if (o.clientId === undefined || o.clientId === '') r.fail(path, 'client_id is required');
  if (o.provider === 'custom' && o.tokenUrl === undefined) r.fail(path, 'a custom provider needs token_url');
  if (o.grant === 'client_credentials' && o.provider === 'microsoft' && o.tenant === undefined)
    r.fail([...path, 'tenant'], 'the client credentials grant needs the tenant (e.g. "contoso.onmicrosoft.com")');
  for (const k of ['tokenUrl', 'deviceUrl'] as const) {
    const problem = o[k] === undefined ? null : endpointProblem(o[k]!);
    if (problem) r.fail([...path, k === 'tokenUrl' ? 'token_url' : 'device_url'], problem);
  }
  return o as OAuthSettings;
}

function readRoutes(r: Reader, v: unknown): RouteRule[] {
  if (!Array.isArray(v)) r.fail(['route'], 'routes are written as [[route]] entries');
  const out: RouteRule[] = [];
  v.forEach((entry, i) => {
    const path = ['route', i];
    const t = r.table(path, entry);
    for (const k of Object.keys(t)) if (!ROUTE_KEYS.includes(k)) r.unknown(path, k, ROUTE_KEYS);
    if (typeof t.relay !== 'string' || t.relay === '') r.fail([...path, 'relay'], 'relay is required: a relay name, or "hold" to keep the mail in the queue');
    const domains = t.domain === undefined ? [undefined] : (r.value([...path, 'domain'], { kind: 'strings', item: 'domainpattern' }, t.domain) as string[]);
    const senders = t.sender === undefined ? [undefined] : (r.value([...path, 'sender'], { kind: 'strings', item: 'senderpattern' }, t.sender) as string[]);
    const froms = t.from === undefined ? [undefined] : (r.value([...path, 'from'], { kind: 'strings', item: 'senderpattern' }, t.from) as string[]);
    if (t.domain === undefined && t.sender === undefined && t.from === undefined) {
      r.fail(path, 'a route needs domain, sender or from (use default_relay for everything else)');
    }
    const line = r.loc.line(path);
    for (const d of domains)
      for (const s of senders)
        for (const f of froms) {
          out.push({
            relay: t.relay as string,
            ...(d !== undefined ? { recipientDomain: d } : {}),
            ...(s !== undefined ? { sender: s } : {}),
            ...(f !== undefined ? { from: f } : {}),
            ...(line ? { line } : {}),
          });
        }
  });
  return out;
}

function readSenderTable(r: Reader, v: unknown): SenderTableEntry[] {
  const t = r.table(['sender_table'], v);
  const out: SenderTableEntry[] = [];
  for (const [rcpt, val] of Object.entries(t)) {
    const path = ['sender_table', rcpt];
    const key = rcpt.startsWith('@') ? isDomain(rcpt.slice(1)) : isMailbox(rcpt);
    if (!key) r.fail(path, 'the key must be a recipient address or "@domain" (quote it: "a@example.com" = ...)');
    let from: unknown;
    let replyTo: unknown;
    if (typeof val === 'object' && val !== null && !Array.isArray(val)) {
      const e = val as Record<string, unknown>;
      for (const k of Object.keys(e)) if (!SENDER_KEYS.includes(k)) r.unknown(path, k, SENDER_KEYS);
      from = e.from;
      replyTo = e.reply_to;
    } else from = val;
    const check = (p: KeyPath, x: unknown): string => {
      if (typeof x !== 'string' || !isMailbox(bareAddress(x)))
        r.fail(p, `must be an address ("a@example.com" or "Name <a@example.com>"), not ${JSON.stringify(x)}`);
      if (/[\r\n\x00]/.test(x)) r.fail(p, 'may not hold a line break');
      return x;
    };
    out.push({
      recipient: rcpt.startsWith('@') ? rcpt.toLowerCase() : rcpt,
      from: check(typeof val === 'string' ? path : [...path, 'from'], from),
      ...(replyTo !== undefined ? { replyTo: check([...path, 'reply_to'], replyTo) } : {}),
    });
  }
  return out;
}

/** Parse and validate configuration text. `file` is only used in messages. */
export function parseConfigText(file: string, text: string): FileSettings {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      throw new OutboxError(EX_CONFIG, `${file}:${e.line}: syntax error: ${first}`);
    }
    throw new OutboxError(EX_CONFIG, `${file}: ${(e as Error).message}`);
  }
  const r = new Reader(file, text);
  const out: FileSettings = {};
  for (const [name, value] of Object.entries(doc)) {
    const spec = TOP[name];
    // `delivery = "queue"` (the mode, kept for compatibility) or a [delivery] table (with `mode`).
    if (name === 'delivery' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const d = r.section<DeliverySettings & { mode?: DeliveryMode }>(['delivery'], value, DELIVERY);
      if (d.mode !== undefined) out.delivery = d.mode;
      delete d.mode;
      out.deliverySettings = d;
      continue;
    }
    if (spec) {
      (out as Record<string, unknown>)[spec.key] = r.value([name], spec.spec, value);
      continue;
    }
    switch (name) {
      case 'relay': {
        const t = r.table(['relay'], value);
        out.relays = {};
        for (const [rn, rv] of Object.entries(t)) out.relays[rn] = readRelay(r, rn, rv);
        break;
      }
      case 'route':
        out.routes = readRoutes(r, value);
        break;
      case 'listener': {
        const l = r.section<Partial<ListenerSettings>>(['listener'], value, LISTENER);
        if (!l.listen) r.fail(['listener', 'listen'], 'listen is required (e.g. listen = ["127.0.0.1:10587"])');
        if ((l.tlsCert === undefined) !== (l.tlsKey === undefined))
          r.fail(['listener', l.tlsCert ? 'tls_key' : 'tls_cert'], 'tls_cert and tls_key go together');
        out.listener = l as ListenerSettings;
        break;
      }
      case 'sender_table':
        out.senderTable = readSenderTable(r, value);
        break;
      default:
        r.unknown([], name, KNOWN_KEYS.top);
    }
  }
  // Cross-references: relay names used by default_relay, routes and fallbacks must exist.
  const names = Object.keys(out.relays ?? {});
  const known = (n: string) => names.includes(n);
  const unknownRelay = (n: string) => {
    const s = suggest(n, names);
    return `no relay named "${n}"${s ? ` (did you mean "${s}"?)` : names.length ? ` (relays: ${names.join(', ')})` : ' (no [relay.NAME] table in the file)'}`;
  };
  if (out.defaultRelay !== undefined && !known(out.defaultRelay)) r.fail(['default_relay'], unknownRelay(out.defaultRelay));
  const rawRoutes = Array.isArray(doc.route) ? (doc.route as { relay?: string }[]) : [];
  rawRoutes.forEach((e, i) => {
    if (e.relay !== undefined && e.relay !== 'hold' && !known(e.relay)) r.fail(['route', i, 'relay'], unknownRelay(e.relay));
  });
  for (const rel of Object.values(out.relays ?? {})) {
    for (const f of rel.fallbacks ?? []) {
      if (f === rel.name) r.fail(['relay', rel.name, 'fallbacks'], 'a relay cannot be its own fallback');
      if (!known(f)) r.fail(['relay', rel.name, 'fallbacks'], unknownRelay(f));
    }
  }
  return out;
}

/** Does this configuration hold a secret inline (then the file must be private)? */
function inlineSecret(s: FileSettings): RelaySettings | undefined {
  return Object.values(s.relays ?? {}).find((r) => r.password !== undefined);
}

export function readConfigFile(file: string): FileSettings {
  let text: string;
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new OutboxError(EX_CONFIG, `${file}: cannot read configuration: ${(e as Error).message}`);
  }
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new OutboxError(EX_CONFIG, `${file}: is a directory, not a configuration file`);
    text = fs.readFileSync(fd, 'utf8');
  } catch (e) {
    if (e instanceof OutboxError) throw e;
    throw new OutboxError(EX_CONFIG, `${file}: cannot read configuration: ${(e as Error).message}`);
  } finally {
    fs.closeSync(fd);
  }
  const settings = parseConfigText(file, text);
  const secret = inlineSecret(settings);
  if (secret) {
    const problem = secretFileProblem(st, currentGids());
    if (problem) {
      throw configError(
        file,
        text,
        ['relay', secret.name, 'password'],
        `an inline password is only allowed in a private file, and this file ${problem.replace(/FILE/g, file)}; or move the password to password_file`,
      );
    }
  }
  return settings;
}
