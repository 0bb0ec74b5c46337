/**
 * runner/smtp-client.ts — one authenticated SMTP session to a relay (nodemailer's
 * smtp-connection), reused for many messages. I/O only: outcomes are decided in classify.ts.
 *
 * Security rules enforced here:
 *   - smtp+starttls: requireTLS: STARTTLS is sent even if not advertised and any failure ends the
 *     attempt; nothing (no AUTH, no MAIL) is ever sent in clear on such a relay.
 *   - smtps: TLS from the first byte. smtp://: plain, and never AUTH (refused in config/relay.ts).
 *   - Certificates are verified (rejectUnauthorized) against the system's CA bundle (else Node's
 *     bundled roots) and the relay's extra CA file; the host name is checked; SHA-256 pins, when given,
 *     are checked in addition (a pin never replaces verification: for a self-signed relay, give
 *     its certificate as the CA file). TLS 1.2 at least.
 *   - The -v transcript never shows credentials: AUTH lines and SASL continuations are redacted.
 * TCP_NODELAY is set by nodemailer (it corks pipelined batches itself).
 *
 * Errors are nodemailer's (code, responseCode, command, response) or ECONFIG ones of our own; the
 * caller passes them to classify(). Next: src/runner/deliver.ts uses sessions per message.
 */
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { createHash } from 'node:crypto';
import { format } from 'node:util';
import type { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { RelaySettings } from '../config/types.js';
import { parseRelayUrl, type RelayEndpoint } from '../config/relay.js';
import { resolveOauthToken, resolveSecret } from '../config/credentials.js';

/** A relay ready to connect to: URL parsed, secret read, TLS context built (once per run). */
export interface PreparedRelay {
  settings: RelaySettings;
  endpoint: RelayEndpoint;
  password?: string;
  secureContext?: tls.SecureContext;
  pins: string[];
  /** XOAUTH2: fetch an access token (runs oauth_token_command). */
  oauthToken?: () => Promise<string>;
  /** host:port for messages before we know the address. */
  label: string;
}

/** An error of our own that classify() reads as a configuration problem. */
export function configFailure(message: string): Error & { code: string } {
  const e = new Error(message) as Error & { code: string };
  e.code = 'ECONFIG';
  return e;
}

let systemCaCache: string[] | undefined;

/** Distribution CA bundles (Debian/Ubuntu/Alpine, then RHEL/Fedora), maintained by update-ca-certificates. */
export const SYSTEM_CA_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'];

/**
 * The trusted roots: the system's CA bundle file when there is one (the operator's trust,
 * including local additions and removals, as msmtp and Postfix use it; parsing it costs ~9 ms),
 * else the system store as Node reads it, else Node's bundled Mozilla roots (a container
 * without ca-certificates).
 */
export function systemCas(): string[] {
  if (systemCaCache) return systemCaCache;
  for (const f of SYSTEM_CA_BUNDLES) {
    try {
      systemCaCache = [fs.readFileSync(f, 'utf8')];
      return systemCaCache;
    } catch {
      // next candidate
    }
  }
  const get = (tls as unknown as { getCACertificates?: (t: string) => string[] }).getCACertificates;
  let system: string[] = [];
  try {
    if (get) system = [...new Set(get('system'))];
  } catch {
    system = [];
  }
  systemCaCache = system.length > 0 ? system : get ? get('bundled') : [...tls.rootCertificates];
  return systemCaCache;
}

/** "AA:BB:.." or "aabb.." -> "AABB.." */
export function normalizeFingerprint(fp: string): string {
  return fp.replace(/[^0-9a-f]/gi, '').toUpperCase();
}

/**
 * Prepare a relay; rejects with a configFailure (ECONFIG) when its settings cannot be used.
 * Secrets: one reader for every relay, config/credentials.ts (password_file — for the OUTBOX_RELAY
 * relay that is OUTBOX_RELAY_PASSWORD_FILE —, password_command, password_env, oauth_token_command).
 */
export async function prepareRelay(settings: RelaySettings, env: NodeJS.ProcessEnv = process.env, configFile: string | null = null): Promise<PreparedRelay> {
  let endpoint: RelayEndpoint;
  let password: string | undefined;
  const ctx = { configFile, env };
  try {
    endpoint = parseRelayUrl(settings.url, `relay ${settings.name}`);
    if (endpoint.user !== undefined && !settings.oauthTokenCommand) password = await resolveSecret(settings, ctx);
  } catch (e) {
    throw configFailure((e as Error).message);
  }
  const label = `${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`;
  if (endpoint.user !== undefined && password === undefined && !settings.oauthTokenCommand) {
    throw configFailure(`relay ${settings.name}: user "${endpoint.user}" but no password: set OUTBOX_RELAY_PASSWORD_FILE (or password_file / password_command)`);
  }
  let secureContext: tls.SecureContext | undefined;
  if (endpoint.scheme !== 'smtp') {
    const ca = [...systemCas()];
    if (settings.caFile) {
      try {
        ca.push(fs.readFileSync(settings.caFile, 'utf8'));
      } catch (e) {
        throw configFailure(`relay ${settings.name}: CA file ${settings.caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    try {
      secureContext = tls.createSecureContext({
        ca,
        minVersion: 'TLSv1.2',
        ...(settings.clientCert ? { cert: fs.readFileSync(settings.clientCert) } : {}),
        ...(settings.clientKey ? { key: fs.readFileSync(settings.clientKey) } : {}),
      });
    } catch (e) {
      throw configFailure(`relay ${settings.name}: TLS settings: ${(e as Error).message}`);
    }
  }
  const oauthToken = settings.oauthTokenCommand ? async () => (await resolveOauthToken(settings, ctx)) ?? '' : undefined;
  return {
    settings,
    endpoint,
    ...(password !== undefined ? { password } : {}),
    ...(secureContext ? { secureContext } : {}),
    ...(oauthToken ? { oauthToken } : {}),
    pins: (settings.fingerprints ?? []).map(normalizeFingerprint),
    label,
  };
}

export type Transcript = (line: string) => void;

/** A bunyan-shaped logger for nodemailer that prints the dialogue with credentials redacted. */
function transcriptLogger(out: Transcript) {
  let inSasl = false;
  const line = (entry: { tnx?: string } | undefined, fmt: unknown, ...args: unknown[]) => {
    const text = format(String(fmt ?? ''), ...args);
    if (entry?.tnx === 'client') {
      if (/^AUTH\s/i.test(text)) {
        inSasl = true;
        out(`>>> ${text.split(/\s+/).slice(0, 2).join(' ')}${text.split(/\s+/).length > 2 ? ' <credentials redacted>' : ''}`);
      } else if (inSasl) out('>>> <credentials redacted>');
      else out(`>>> ${text}`);
    } else if (entry?.tnx === 'server') {
      if (!/^334[ -]/.test(text)) inSasl = false;
      for (const l of text.split(/\r?\n/)) out(`<<< ${l}`);
    }
  };
  const nop = () => {};
  return { level: nop, trace: nop, debug: line, info: nop, warn: nop, error: nop, fatal: nop };
}

export interface SessionOptions {
  ehloName: string;
  transcript?: Transcript;
  /** Abort functions of sessions being opened, for a shutdown that must not wait for timeouts. */
  abortables?: Set<() => void>;
}

export interface SendInfo {
  accepted: string[];
  rejectedErrors: SmtpError[];
  response: string;
}

export type SmtpError = Error & { code?: string; responseCode?: number; command?: string; response?: string; originalCode?: string; recipient?: string; rejectedErrors?: SmtpError[] };

/** One open, authenticated session. */
export class Session {
  readonly relay: PreparedRelay;
  /** host[ip]:port */
  peer: string;
  messages = 0;
  private conn: SMTPConnection;
  private dead = false;
  lastUsed = Date.now();

  private constructor(relay: PreparedRelay, conn: SMTPConnection) {
    this.relay = relay;
    this.conn = conn;
    this.peer = relay.label;
  }

  get alive(): boolean {
    return !this.dead && !(this.conn as unknown as { _destroyed?: boolean })._destroyed;
  }

  get supportsDsn(): boolean {
    return ((this.conn as unknown as { _supportedExtensions?: string[] })._supportedExtensions ?? []).includes('DSN');
  }

  /** Connect, TLS, EHLO, AUTH. Rejects with an SmtpError (with peer set in .peer). */
  static open(relay: PreparedRelay, opts: SessionOptions): Promise<Session> {
    const s = relay.settings;
    const e = relay.endpoint;
    const pins = relay.pins;
    const conn = new SMTPConnection({
      host: e.host,
      port: e.port,
      secure: e.scheme === 'smtps',
      requireTLS: e.scheme === 'starttls',
      ignoreTLS: e.scheme === 'smtp',
      name: s.ehloName ?? opts.ehloName,
      connectionTimeout: s.connectTimeoutMs ?? 30_000,
      greetingTimeout: s.greetingTimeoutMs ?? 30_000,
      socketTimeout: Math.max(s.commandTimeoutMs ?? 120_000, s.dataTimeoutMs ?? 0),
      socketCloseTimeout: 1000,
      ...(opts.transcript ? { logger: transcriptLogger(opts.transcript) as never, transactionLog: true } : { logger: false }),
      ...(relay.secureContext
        ? {
            tls: {
              secureContext: relay.secureContext,
              rejectUnauthorized: true,
              minVersion: 'TLSv1.2' as const,
              checkServerIdentity: (host: string, cert: tls.PeerCertificate) => {
                const err = tls.checkServerIdentity(host, cert);
                if (err) return err;
                if (pins.length > 0 && !pins.includes(normalizeFingerprint(cert.fingerprint256 ?? ''))) {
                  const pe = new Error(`certificate fingerprint ${cert.fingerprint256} is not pinned`) as Error & { code: string };
                  pe.code = 'ERR_OUTBOX_PIN_MISMATCH';
                  return pe;
                }
                return undefined;
              },
            },
          }
        : {}),
      ...(s.oauthTokenCommand
        ? {
            // Registered under its own name: nodemailer replaces a plain 'XOAUTH2' method without
            // its own token generator by the first other mechanism the server offers.
            customAuth: {
              'OUTBOX-XOAUTH2': async (ctx: { sendCommand(cmd: string): Promise<{ status: number }>; resolve(): void; reject(e: Error | string): void }) => {
                let token: string;
                try {
                  token = await relay.oauthToken!();
                } catch (err) {
                  return ctx.reject(Object.assign(new Error((err as Error).message), { code: 'ECONFIG' }) as Error);
                }
                const blob = Buffer.from(`user=${e.user ?? ''}\x01auth=Bearer ${token}\x01\x01`).toString('base64');
                let r = await ctx.sendCommand(`AUTH XOAUTH2 ${blob}`);
                if (r.status === 334) r = await ctx.sendCommand('');
                if (r.status === 235) ctx.resolve();
                else ctx.reject(Object.assign(new Error('XOAUTH2 authentication failed'), { responseCode: r.status }));
              },
            },
          }
        : {}),
    });
    const session = new Session(relay, conn);
    conn.on('error', () => {
      session.dead = true;
    });
    conn.on('end', () => {
      session.dead = true;
    });
    return new Promise((resolve, reject) => {
      let settled = false;
      // While connecting, the owner may abandon us (SIGTERM): destroy the socket at once.
      const unregister = opts.abortables
        ? (() => {
            const abort = () => fail(Object.assign(new Error('delivery interrupted (terminated)'), { code: 'ECONNECTION' }));
            opts.abortables.add(abort);
            return () => opts.abortables!.delete(abort);
          })()
        : undefined;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        session.dead = true;
        unregister?.();
        // Name the address we talked to (or tried), Postfix-style: host[ip]:port.
        const sock = conn._socket as { remoteAddress?: string } | false | null;
        const addr = (sock && sock.remoteAddress) || (err as { address?: string }).address;
        if (addr) session.peer = `${e.host}[${addr}]:${e.port}`;
        try {
          conn.close();
        } catch {
          // already closed
        }
        const se = err as SmtpError & { peer?: string };
        se.peer = session.peer;
        reject(se);
      };
      conn.once('error', fail);
      try {
        conn.connect((err) => {
          if (err) return fail(err);
          const sock = conn._socket as (import('node:net').Socket & { remoteAddress?: string }) | false | null;
          if (sock && sock.remoteAddress) session.peer = `${e.host}[${sock.remoteAddress}]:${e.port}`;
          if (e.user === undefined) {
            settled = true;
            unregister?.();
            conn.removeListener('error', fail);
            return resolve(session);
          }
          const auth = s.oauthTokenCommand
            ? { user: e.user, pass: 'x', method: 'OUTBOX-XOAUTH2' }
            : { user: e.user, pass: relay.password ?? '', ...(s.authMechanism ? { method: s.authMechanism } : {}) };
          conn.login(auth, (lerr) => {
            if (lerr) {
              if (!lerr.code) (lerr as SmtpError).code = 'EAUTH';
              return fail(lerr);
            }
            settled = true;
            unregister?.();
            conn.removeListener('error', fail);
            resolve(session);
          });
        });
      } catch (err) {
        fail(err);
      }
    });
  }

  /** Send one transaction. Resolves with per-recipient results; rejects with an SmtpError. */
  /** Fails the transaction in flight (destroy() uses it: nodemailer's close() forgets it). */
  private abortSend: ((e: SmtpError) => void) | undefined;

  send(
    envelope: { from: string; to: string[]; size: number; use8BitMime: boolean; dsn?: { ret?: string; envid?: string; notify?: string[]; orcpt?: string } },
    message: Readable,
  ): Promise<SendInfo> {
    this.lastUsed = Date.now();
    return new Promise((resolve, reject0) => {
      let done = false;
      const reject = (e: SmtpError) => {
        if (done) return;
        done = true;
        this.abortSend = undefined;
        reject0(e);
      };
      this.abortSend = reject;
      const env: Record<string, unknown> = { from: envelope.from === '' ? '' : envelope.from, to: envelope.to, size: envelope.size, use8BitMime: envelope.use8BitMime };
      if (envelope.dsn) {
        const d: Record<string, unknown> = {};
        if (envelope.dsn.ret) d.ret = envelope.dsn.ret;
        if (envelope.dsn.envid) d.envid = envelope.dsn.envid;
        if (envelope.dsn.notify) d.notify = envelope.dsn.notify;
        if (envelope.dsn.orcpt) d.orcpt = envelope.dsn.orcpt;
        if (Object.keys(d).length > 0) env.dsn = d;
      }
      this.conn.send(env as never, message, (err, info) => {
        this.messages++;
        this.lastUsed = Date.now();
        if (err) {
          const e = err as SmtpError;
          // The rejected recipients of a transaction that then failed at DATA: nodemailer keeps
          // them on the envelope only.
          if (!e.rejectedErrors) {
            const pending = (this.conn as unknown as { _envelope?: { rejectedErrors?: SmtpError[] } })._envelope?.rejectedErrors;
            if (pending && pending.length > 0) e.rejectedErrors = pending;
          }
          return reject(e);
        }
        if (done) return;
        done = true;
        this.abortSend = undefined;
        resolve({ accepted: info!.accepted ?? [], rejectedErrors: (info!.rejectedErrors ?? []) as SmtpError[], response: info!.response ?? '' });
      });
    });
  }

  /** RSET after a refused transaction, so that the session can go on. */
  reset(): Promise<boolean> {
    return new Promise((resolve) => {
      if (!this.alive) return resolve(false);
      this.conn.reset((err) => {
        if (err) this.dead = true;
        resolve(!err);
      });
    });
  }

  /** QUIT and close (never throws). */
  close(): void {
    this.dead = true;
    try {
      this.conn.quit();
    } catch {
      // already closed
    }
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }

  /** Abandon at once (SIGTERM): destroy the socket; the transaction in flight fails (deferred). */
  destroy(): void {
    this.dead = true;
    this.abortSend?.(Object.assign(new Error('delivery interrupted (terminated); the relay may have received the message'), { code: 'ECONNECTION', command: 'CONN' }) as SmtpError);
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

/** SHA-256 fingerprint of a PEM certificate, "AA:BB:..": for `outbox check` and tests. */
export function pemFingerprint(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return createHash('sha256').update(der).digest('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:');
}
