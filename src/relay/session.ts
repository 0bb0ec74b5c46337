/**
 * relay/session.ts — one authenticated SMTP session to a relay (nodemailer's
 * smtp-connection), reused for many messages. I/O only: outcomes are decided in classify.ts.
 *
 * Security rules enforced here:
 *   - smtp+starttls: requireTLS: STARTTLS is sent even if not advertised and any failure ends the
 *     attempt; nothing (no AUTH, no MAIL) is ever sent in clear on such a relay.
 *   - smtps: TLS from the first byte. smtp://: plain, and never AUTH (refused in relay/relay.ts).
 *   - Certificates are verified as relay/tls.ts says (the one TLS policy, shared with `outbox
 *     check`): system CAs + the relay's CA file, host name, SHA-256 pins in addition (a pin never
 *     replaces verification). TLS 1.2 at least.
 *   - The -v transcript never shows credentials: AUTH lines and SASL continuations are redacted.
 *     Each line is tagged with its connection ("[env#2] >>> EHLO ..."): several interleave.
 *   - A session that fails after the relay answered (a 535 to AUTH, say) ends with QUIT
 *     (RFC 5321 4.1.1.10), as a successful one does.
 * TCP_NODELAY is set by nodemailer (it corks pipelined batches itself).
 *
 * Errors are nodemailer's (code, responseCode, command, response) or ECONFIG ones of our own; the
 * caller passes them to classify(). Next: src/runner/deliver.ts uses sessions per message.
 */
import type * as tls from 'node:tls';
import { format } from 'node:util';
import type { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { RelaySettings } from '../config/types.js';
import { parseRelayUrl, type RelayEndpoint } from './relay.js';
import { resolveOauthToken, resolveSecret } from '../config/credentials.js';
import { relayPins, relaySecureContext, relayTimeouts, relayTlsOptions } from './tls.js';
import { configFailure, smtpError, type SmtpError } from './errors.js';

// runner/runner.ts imports these from here (the lead moves its imports after the merge).
export { configFailure, type SmtpError } from './errors.js';

/** A relay ready to connect to: URL parsed, secret read, TLS context built (once per run). */
export interface PreparedRelay {
  settings: RelaySettings;
  endpoint: RelayEndpoint;
  password?: string;
  secureContext?: tls.SecureContext;
  pins: string[];
  /** XOAUTH2: fetch an access token (runs oauth_token_command). */
  oauthToken?: (force?: boolean) => Promise<string>;
  /** host:port for messages before we know the address. */
  label: string;
}

/** The relay authenticates with an OAuth access token (built-in, or oauth_token_command). */
function usesOauth(s: RelaySettings): boolean {
  return Boolean(s.oauthTokenCommand || s.oauth);
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
    if (endpoint.user !== undefined && !usesOauth(settings)) password = await resolveSecret(settings, ctx);
  } catch (e) {
    throw configFailure((e as Error).message);
  }
  const label = `${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`;
  if (endpoint.user !== undefined && password === undefined && !usesOauth(settings)) {
    throw configFailure(
      `relay ${settings.name}: user "${endpoint.user}" but no password: set OUTBOX_RELAY_PASSWORD_FILE (or password_file / password_command)`,
    );
  }
  let secureContext: tls.SecureContext | undefined;
  if (endpoint.scheme !== 'smtp') {
    try {
      secureContext = relaySecureContext(settings);
    } catch (e) {
      throw configFailure(`relay ${settings.name}: ${(e as Error).message}`);
    }
  }
  const oauthToken = usesOauth(settings) ? async (force?: boolean) => (await resolveOauthToken(settings, ctx, { force: force ?? false })) ?? '' : undefined;
  return {
    settings,
    endpoint,
    ...(password !== undefined ? { password } : {}),
    ...(secureContext ? { secureContext } : {}),
    ...(oauthToken ? { oauthToken } : {}),
    pins: relayPins(settings),
    label,
  };
}

export type Transcript = (line: string) => void;

/** Connections opened by this process, for the -v tags ("[env#2]"). */
let connections = 0;

/**
 * A bunyan-shaped logger for nodemailer: notes the address the relay's name resolved to (for
 * host[ip]:port when the session fails before a socket could say), and with -v prints the
 * dialogue tagged with the connection, credentials redacted.
 */
function sessionLogger(tag: string, resolved: (address: string) => void, out: Transcript | undefined) {
  let inSasl = false;
  const line = (entry: { tnx?: string; resolved?: string } | undefined, fmt: unknown, ...args: unknown[]) => {
    if (entry?.tnx === 'dns' && entry.resolved) resolved(entry.resolved);
    if (!out) return;
    const text = format(String(fmt ?? ''), ...args);
    if (entry?.tnx === 'client') {
      if (/^AUTH\s/i.test(text)) {
        inSasl = true;
        out(`${tag} >>> ${text.split(/\s+/).slice(0, 2).join(' ')}${text.split(/\s+/).length > 2 ? ' <credentials redacted>' : ''}`);
      } else if (inSasl) out(`${tag} >>> <credentials redacted>`);
      else out(`${tag} >>> ${text}`);
    } else if (entry?.tnx === 'server') {
      if (!/^334[ -]/.test(text)) inSasl = false;
      for (const l of text.split(/\r?\n/)) out(`${tag} <<< ${l}`);
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

  /** RFC 6531: without it, no UTF-8 may go in MAIL FROM or RCPT TO (runner/smtputf8.ts). */
  get supportsSmtpUtf8(): boolean {
    return ((this.conn as unknown as { _supportedExtensions?: string[] })._supportedExtensions ?? []).includes('SMTPUTF8');
  }

  /** Connect, TLS, EHLO, AUTH. Rejects with an SmtpError (with peer set in .peer). */
  static open(relay: PreparedRelay, opts: SessionOptions): Promise<Session> {
    const s = relay.settings;
    const e = relay.endpoint;
    const t = relayTimeouts(s);
    const tag = `[${s.name}#${++connections}]`;
    let resolvedAddress: string | undefined;
    const conn = new SMTPConnection({
      host: e.host,
      port: e.port,
      secure: e.scheme === 'smtps',
      requireTLS: e.scheme === 'starttls',
      ignoreTLS: e.scheme === 'smtp',
      name: s.ehloName ?? opts.ehloName,
      connectionTimeout: t.connectMs,
      greetingTimeout: t.greetingMs,
      socketTimeout: t.commandMs,
      socketCloseTimeout: 1000,
      logger: sessionLogger(tag, (a) => (resolvedAddress = a), opts.transcript) as never,
      ...(opts.transcript ? { transactionLog: true } : {}),
      ...(relay.secureContext ? { tls: relayTlsOptions(relay.secureContext, relay.pins) } : {}),
      ...(usesOauth(s)
        ? {
            // Registered under its own name: nodemailer replaces a plain 'XOAUTH2' method without
            // its own token generator by the first other mechanism the server offers.
            customAuth: {
              'OUTBOX-OAUTH': async (ctx: { sendCommand(cmd: string): Promise<{ status: number }>; resolve(): void; reject(e: Error | string): void }) => {
                // XOAUTH2 (Google, Microsoft) or OAUTHBEARER (RFC 7628). A token the relay refuses
                // is replaced once by a freshly refreshed one (built-in OAuth only).
                const bearer = s.authMechanism === 'OAUTHBEARER';
                const attempt = async (force: boolean): Promise<number | Error> => {
                  let token: string;
                  try {
                    token = await relay.oauthToken!(force);
                  } catch (err) {
                    const code = (err as { code?: string }).code === 'ETOKENTEMP' ? 'ETOKENTEMP' : 'ECONFIG';
                    return smtpError((err as Error).message, { code });
                  }
                  const blob = bearer
                    ? Buffer.from(
                        `n,a=${(e.user ?? '').replace(/=/g, '=3D').replace(/,/g, '=2C')},\x01host=${e.host}\x01port=${e.port}\x01auth=Bearer ${token}\x01\x01`,
                      ).toString('base64')
                    : Buffer.from(`user=${e.user ?? ''}\x01auth=Bearer ${token}\x01\x01`).toString('base64');
                  let r = await ctx.sendCommand(`AUTH ${bearer ? 'OAUTHBEARER' : 'XOAUTH2'} ${blob}`);
                  // 334 carries the server's error details; the client answers with an empty
                  // response (XOAUTH2) or ^A (OAUTHBEARER) and gets the final 5xx.
                  if (r.status === 334) r = await ctx.sendCommand(bearer ? 'AQ==' : '');
                  return r.status;
                };
                let r = await attempt(false);
                if (typeof r === 'number' && r !== 235 && s.oauth) r = await attempt(true);
                if (r instanceof Error) {
                  // nodemailer turns any rejection into EAUTH: keep ours (ECONFIG / ETOKENTEMP).
                  // (nodemailer rewrites the object it is given: hand it a copy.)
                  tokenFailure = r;
                  return ctx.reject(new Error(r.message));
                }
                if (r === 235) return ctx.resolve();
                ctx.reject(smtpError(`${bearer ? 'OAUTHBEARER' : 'XOAUTH2'} authentication failed`, { responseCode: r }));
              },
            },
          }
        : {}),
    });
    const session = new Session(relay, conn);
    let tokenFailure: Error | undefined;
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
            const abort = () => fail(smtpError('delivery interrupted (terminated)', { code: 'ECONNECTION' }));
            opts.abortables.add(abort);
            return () => opts.abortables!.delete(abort);
          })()
        : undefined;
      const fail = (e0: unknown) => {
        if (settled) return;
        settled = true;
        session.dead = true;
        // Our own OAuth failure, whichever way nodemailer reports the AUTH it interrupted.
        const err = tokenFailure ?? e0;
        unregister?.();
        // Name the address we talked to (or tried), Postfix-style: host[ip]:port, also when a
        // TLS failure destroyed the socket before it could tell.
        const sock = conn._socket as { remoteAddress?: string } | false | null;
        const addr = (sock && sock.remoteAddress) || (err as { address?: string }).address || resolvedAddress;
        if (addr) session.peer = `${e.host}[${addr}]:${e.port}`;
        // The relay answered (535 to AUTH, 5xx to EHLO): say goodbye properly (RFC 5321 4.1.1.10).
        if ((err as SmtpError).responseCode && !(conn as unknown as { _destroyed?: boolean })._destroyed) {
          try {
            conn.quit();
          } catch {
            // closing anyway
          }
        }
        try {
          conn.close();
        } catch {
          // already closed
        }
        const se = err as SmtpError;
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
          const auth = usesOauth(s)
            ? { user: e.user, pass: 'x', method: 'OUTBOX-OAUTH' }
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
      const env: Record<string, unknown> = {
        from: envelope.from === '' ? '' : envelope.from,
        to: envelope.to,
        size: envelope.size,
        use8BitMime: envelope.use8BitMime,
      };
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
          // them on the envelope only. Not after a refused MAIL FROM: with PIPELINING the RCPT
          // replies are then only "503 need MAIL command", and the sender's refusal is the answer
          // for every recipient (it may be a refused sender: held, never bounced).
          if (!e.rejectedErrors && e.command !== 'MAIL FROM') {
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
    this.abortSend?.(smtpError('delivery interrupted (terminated); the relay may have received the message', { code: 'ECONNECTION', command: 'CONN' }));
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}
