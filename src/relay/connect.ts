/**
 * relay/connect.ts — the one SMTP connection opener of the program: nodemailer's
 * smtp-connection set up from a prepared relay (relay/prepare.ts) with the relay's TLS policy
 * (relay/tls.ts), timeouts and login (relay/auth.ts). Delivery (relay/session.ts Session.open)
 * and `outbox check` (relay/probe.ts) both connect and log in through openConnection(), so
 * check meets a relay exactly as delivery does.
 *
 * Security rules enforced here:
 *   - smtp+starttls: requireTLS: STARTTLS is sent even if not advertised and any failure ends the
 *     attempt; nothing (no AUTH, no MAIL) is ever sent in clear on such a relay.
 *   - smtps: TLS from the first byte. smtp://: plain, and never AUTH (refused by relay/url.ts).
 *   - Certificates are verified as relay/tls.ts says: system CAs + the relay's CA file, host
 *     name, SHA-256 pins in addition (a pin never replaces verification). TLS 1.2 at least.
 *     Only `outbox check` may ask to finish a handshake with a certificate delivery refuses
 *     (examine), to say why; it never logs in on such a connection.
 *   - The -v transcript never shows credentials: AUTH lines and SASL continuations are redacted.
 *     Each line is tagged with its connection ("[env#2] >>> EHLO ..."): several interleave.
 * TCP_NODELAY is set by nodemailer (it corks pipelined batches itself).
 */
import { format } from 'node:util';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { PreparedRelay } from './prepare.js';
import { relayTimeouts, relayTlsOptions } from './tls.js';
import { waitForTicketAfterStarttls } from './ticket-wait.js';
import { loginOptions, oauthCustomAuth } from './auth.js';
import type { SmtpError } from './errors.js';

export type Transcript = (line: string) => void;

/** One step of the dialogue: a command's verb (">>>", never its arguments), a whole reply ("<<<"), TLS up ("tls"). */
export type DialogueStep = (dir: '>>>' | '<<<' | 'tls', text: string) => void;

export interface ConnectOptions {
  ehloName: string;
  /** -v: the dialogue, tagged and redacted. */
  transcript?: Transcript;
  /** `outbox check`: each command's verb and each reply, to report the steps. */
  dialogue?: DialogueStep;
  /** Timeouts in place of the relay's own (`outbox check --timeout`). */
  timeouts?: { connectMs: number; greetingMs: number; commandMs: number };
  /**
   * `outbox check` only: finish the TLS handshake even with a certificate delivery refuses, so
   * that it can be examined (the socket's `authorized` is delivery's verdict, under the same
   * options). The caller must not log in on such a connection.
   */
  examine?: boolean;
}

export interface Connection {
  conn: SMTPConnection;
  /** host[ip]:port once the address is known (also after a failure: pass its .address), else host:port. */
  peer(address?: string): string;
  /** Our own OAuth failure (ECONFIG, ETOKENTEMP), which nodemailer reports as an EAUTH. */
  tokenFailure(): SmtpError | undefined;
  /** Log in as delivery does (relay/auth.ts); the error has code EAUTH at least. */
  login(cb: (err: SmtpError | null) => void): void;
}

/** Connections opened by this process, for the -v tags ("[env#2]"). */
let connections = 0;

/**
 * A bunyan-shaped logger for nodemailer: notes the address the relay's name resolved to (for
 * host[ip]:port when the session fails before a socket could say), and with -v prints the
 * dialogue tagged with the connection, credentials redacted.
 */
function sessionLogger(tag: string, resolved: (address: string) => void, out: Transcript | undefined, dialogue: DialogueStep | undefined) {
  let inSasl = false;
  const line = (entry: { tnx?: string; resolved?: string } | undefined, fmt: unknown, ...args: unknown[]) => {
    if (entry?.tnx === 'dns' && entry.resolved) resolved(entry.resolved);
    if (!out && !dialogue) return;
    const text = format(String(fmt ?? ''), ...args);
    if (entry?.tnx === 'client') {
      if (/^AUTH\s/i.test(text)) {
        inSasl = true;
        out?.(`${tag} >>> ${text.split(/\s+/).slice(0, 2).join(' ')}${text.split(/\s+/).length > 2 ? ' <credentials redacted>' : ''}`);
        dialogue?.('>>>', 'AUTH');
      } else if (inSasl) out?.(`${tag} >>> <credentials redacted>`);
      else {
        out?.(`${tag} >>> ${text}`);
        dialogue?.('>>>', text.split(/\s+/)[0]!.toUpperCase());
      }
    } else if (entry?.tnx === 'server') {
      if (!/^334[ -]/.test(text)) inSasl = false;
      if (out) for (const l of text.split(/\r?\n/)) out(`${tag} <<< ${l}`);
      dialogue?.('<<<', text);
    }
  };
  // The moment TLS is up (implicit, or after STARTTLS), while its socket can be examined.
  const info = (_entry: unknown, fmt: unknown, ...args: unknown[]) => {
    const text = format(String(fmt ?? ''), ...args);
    if (/^Secure connection established|^Connection upgraded with STARTTLS/.test(text)) dialogue?.('tls', text);
  };
  const nop = () => {};
  return { level: nop, trace: nop, debug: line, info, warn: nop, error: nop, fatal: nop };
}

/** A connection to a prepared relay, not yet connected: call conn.connect(), then login(). */
export function openConnection(relay: PreparedRelay, opts: ConnectOptions): Connection {
  const s = relay.settings;
  const e = relay.endpoint;
  const t = opts.timeouts ?? relayTimeouts(s);
  const tag = `[${s.name}#${++connections}]`;
  let resolvedAddress: string | undefined;
  let tokenFailure: SmtpError | undefined;
  const tlsOptions = relay.secureContext ? relayTlsOptions(relay.secureContext, relay.pins) : undefined;
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
    logger: sessionLogger(tag, (a) => (resolvedAddress = a), opts.transcript, opts.dialogue) as never,
    ...(opts.transcript || opts.dialogue ? { transactionLog: true } : {}),
    ...(tlsOptions ? { tls: opts.examine ? { ...tlsOptions, rejectUnauthorized: false } : tlsOptions } : {}),
    ...oauthCustomAuth(relay, (f) => (tokenFailure = f)),
  });
  waitForTicketAfterStarttls(conn); // no 45 ms stall on the EHLO after a TLS 1.3 handshake
  return {
    conn,
    peer: (address) => {
      // Postfix-style host[ip]:port, also when a TLS failure destroyed the socket before it could tell.
      const sock = conn._socket as { remoteAddress?: string } | false | null;
      const addr = (sock && sock.remoteAddress) || address || resolvedAddress;
      return addr ? `${e.host}[${addr}]:${e.port}` : relay.label;
    },
    tokenFailure: () => tokenFailure,
    login: (cb) =>
      conn.login(loginOptions(relay), (err) => {
        if (err && !err.code) (err as SmtpError).code = 'EAUTH';
        cb(err ? (tokenFailure ?? (err as SmtpError)) : null);
      }),
  };
}
