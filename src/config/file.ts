/**
 * config/file.ts — read and validate the TOML configuration file.
 *
 * Why TOML: it is commented and read by people (`key = "value"` under `[section]` headers),
 * has one obvious way to write a list and a table, and smol-toml parses it strictly with line
 * numbers in its syntax errors and no dependencies (fast enough for every sendmail call:
 * ~0.3 ms for the example file with every key: node scripts/bench-config.mjs).
 *
 * Every key of the file is a row in one of the tables of config/keys.ts; config/reader.ts checks
 * each value against its row, config/sections.ts the rules of the oauth, route, sender_table and
 * listener sections. This file reads the text, puts the sections together, reads [relay.NAME]
 * (its URL checked by relay/url.ts) and checks that relay names exist. An unknown key is
 * an error with a "did you mean" suggestion; a value of the wrong type or form is an error.
 * Errors name the file, the line and the key:
 *     /etc/outbox/outbox.conf:12: relay.gmail.url: unknown scheme "smtpx" (expected ...)
 * and throw OutboxError(EX_CONFIG, 78). See README.md "Configuration" and outbox.conf.example.
 *
 * Credentials are only *described* here (which file, which command, which variable). Reading
 * them is config/credentials.ts, done by the runner and the diagnostics, never by submitters.
 * The one check made here is cheap and protects everyone: a file that holds an inline
 * `password` must not be readable by others (config/secret-file.ts).
 */
import * as fs from 'node:fs';
import { parse, TomlError } from 'smol-toml';
import { EX_CONFIG, OutboxError } from '../sysexits.js';
import type { DeliveryMode } from '../cli/flags.js';
import type { DeliverySettings, ListenerSettings, RelaySettings, RouteRule, SenderTableEntry } from './types.js';
import { parseRate } from './limits.js';
import { checkRelayUrl, normalizeFingerprint } from '../relay/url.js';
import { DELIVERY, KNOWN_KEYS, RELAY, TOP } from './keys.js';
import { Reader, configError, suggest } from './reader.js';
import { readListener, readOauth, readRoutes, readSenderTable } from './sections.js';
import { currentGids, secretFileProblem } from './secret-file.js';

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

function readRelay(r: Reader, name: string, v: unknown): RelaySettings {
  const path = ['relay', name];
  if (!/^[A-Za-z0-9_-]+$/.test(name)) r.fail(path, 'a relay name is letters, digits, "-" and "_"');
  if (name === 'hold' || name === 'env') r.fail(path, `"${name}" is reserved (hold = keep in the queue; env = OUTBOX_RELAY)`);
  const { oauth: oauthTable, ...rest } = r.table(path, v);
  const s = r.section<Omit<RelaySettings, 'name'>>(path, rest, RELAY);
  if (s.fingerprints)
    s.fingerprints = s.fingerprints.map(
      (x) => normalizeFingerprint(x) ?? r.fail([...path, 'fingerprint'], `${JSON.stringify(x)} is not a SHA-256 fingerprint (64 hex digits, colons optional)`),
    );
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
      case 'listener':
        out.listener = readListener(r, value);
        break;
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
