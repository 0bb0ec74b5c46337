/**
 * A scripted SMTP relay (smarthost) for integration tests, built on smtp-server.
 *
 * Defaults model a submission server on port 587: plaintext greeting, STARTTLS
 * offered with the `good` certificate of the test PKI (see ./pki.ts), AUTH
 * (PLAIN, LOGIN, CRAM-MD5, XOAUTH2) required before MAIL FROM and only usable
 * after TLS. Note: smtp-server lists AUTH in the plaintext EHLO reply as well,
 * but answers a plaintext AUTH with '538 Error: Must issue a STARTTLS command
 * first' (see RelaySession.tlsStartIndex to check what a client sent in the clear). Faults can be injected at start or changed while running with
 * `setFaults()`. Every fault reply is given as a complete reply line, e.g.
 * `'451 4.3.0 Try later'`, and is sent to the client exactly as written
 * (smtp-server's own enhanced status codes are left disabled for that reason).
 *
 * `close()` destroys every open client connection, so a test never hangs on it.
 * Set RELAY_DEBUG=1 in the environment to log the SMTP dialogue to stderr.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { testPki, type ServerCertName } from './pki.js';
import { noteHeadroom } from './run.js';

export interface RelayOptions {
  /** 0 = ephemeral (default) */
  port?: number;
  /** default '127.0.0.1' */
  host?: string;
  /** server certificate, default 'good' */
  cert?: ServerCertName;
  /** implicit TLS (port 465 style), default false */
  secure?: boolean;
  /**
   * STARTTLS, default true (advertised and working).
   * false: not advertised AND refused ('500 Error: command not recognized'), like
   *        a stripped/plaintext-only server; a client that requires TLS must fail.
   * 'hidden': not advertised but still working when the client sends it anyway
   *        (smtp-server's hideSTARTTLS).
   */
  starttls?: boolean | 'hidden';
  /** default true: AUTH required before MAIL; AUTH is only ever offered after TLS */
  authRequired?: boolean;
  /** default { outbox: 'secret' } */
  users?: Record<string, string>;
  /** default ['PLAIN','LOGIN','CRAM-MD5','XOAUTH2']; XOAUTH2 accepts the token 'token-<user>' */
  authMethods?: string[];
  /** XOAUTH2/OAUTHBEARER: ask this (e.g. a real authorization server) instead of 'token-<user>' */
  oauthValidate?: (user: string, token: string) => Promise<boolean>;
  /** advertise DSN (default false) */
  dsn?: boolean;
  /** advertise SMTPUTF8 (default true); false: hidden, like OpenSMTPD */
  smtputf8?: boolean;
  /** advertise SIZE and reject (552) messages over it */
  size?: number;
  /** advertise PIPELINING (default true) */
  pipelining?: boolean;
  faults?: Faults;
  /** delay before replying 250 to the end of DATA */
  acceptDelayMs?: number;
  /** ask the client for a TLS certificate (not required); see RelaySession.clientCert */
  requestClientCert?: boolean;
}

export interface Faults {
  /** e.g. '421 4.3.2 Service not available': sent instead of the 220 greeting, then the connection is closed */
  greeting?: string;
  /** recipient address (lower case) -> reply, e.g. '451 4.3.0 Try later' or '550 5.1.1 No such user' */
  rcpt?: Record<string, string>;
  /** reply to MAIL FROM */
  mailFrom?: string;
  /**
   * Only this sender is accepted (a provider whose login is an address, like Gmail or
   * Microsoft 365); MAIL FROM with any other address gets `reply` (default
   * '553 5.7.1 Sender address rejected: not owned by user').
   */
  onlySender?: { address: string; reply?: string };
  /** reply after the DATA content, e.g. '554 5.7.1 Rejected' */
  data?: string;
  /** destroy the socket once part of the DATA content has arrived (no reply is ever sent) */
  dropMidData?: boolean;
  /** reply to every AUTH attempt, e.g. '535 5.7.8 Authentication failed' */
  authReply?: string;
  /** the first N connections (counted from start / the last setFaults) get a 421 greeting */
  failFirstN?: number;
}

export interface ReceivedDsn {
  /** RET parameter of MAIL FROM */
  ret: string | null;
  /** ENVID parameter of MAIL FROM */
  envid: string | null;
  /** per recipient (as given in RCPT TO): NOTIFY and ORCPT */
  rcpt: Record<string, { notify?: string[]; orcpt?: string }>;
}

export interface ReceivedMessage {
  /** '' for the null sender */
  mailFrom: string;
  rcptTo: string[];
  /** DATA content as smtp-server delivers it: dot-unstuffed, without the final CRLF.CRLF */
  data: Buffer;
  authUser?: string;
  secure: boolean;
  /** only set when the relay advertises DSN (`dsn: true`) */
  dsn?: ReceivedDsn;
  sessionId: string;
  /** MAIL FROM parameters (keys upper case), {} if none */
  mailFromArgs: Record<string, string | true>;
  /** BODY= value ('7bit' / '8bitmime') */
  bodyType?: string;
  /** SMTPUTF8 given on MAIL FROM */
  smtpUtf8?: boolean;
  /** When MAIL FROM arrived (Date.now()): the spacing a sending rate gives */
  mailAt?: number;
}

export interface RelaySession {
  /** smtp-server session id (matches ReceivedMessage.sessionId) */
  id: string;
  remoteAddress: string;
  secure: boolean;
  authUser?: string;
  /** command lines in order as received; AUTH credentials are shown as '/* secured *\/' */
  commands: string[];
  /**
   * index into `commands` where TLS started (0 for implicit TLS, the index after
   * STARTTLS otherwise); undefined while the session is plaintext.
   * commands.slice(0, tlsStartIndex) were sent in the clear.
   */
  tlsStartIndex?: number;
  /** set when requestClientCert is on and the client presented one */
  clientCert?: { subjectCN?: string | undefined; fingerprint256: string; authorized: boolean };
}

export interface TestRelay {
  port: number;
  host: string;
  /** CA that issued the relay's certificate (for 'good'/'expired'/'wronghost') */
  caFile: string;
  ca: Buffer;
  /** accepted messages (250 sent), in arrival order */
  received: ReceivedMessage[];
  /** messages received in full but answered with a fault (Faults.data, SIZE) */
  rejected: ReceivedMessage[];
  /** every MAIL FROM (accepted or not), when it arrived (Date.now()) */
  mailFromTimes: number[];
  /** TCP connections accepted (including ones whose TLS handshake failed) */
  connections: number;
  /** AUTH attempts (onAuth calls) */
  authAttempts: number;
  /** OAuth access tokens presented (with oauthValidate), and whether they were valid */
  oauthTokens: { token: string; valid: boolean }[];
  /** connections closed on purpose by Faults.dropMidData */
  dropped: number;
  /** SMTP sessions, in connection order (a failed implicit-TLS handshake creates none) */
  sessions: RelaySession[];
  /** errors reported by smtp-server (TLS handshake failures, client resets, ...) */
  errors: Error[];
  /** the underlying smtp-server instance */
  server: SMTPServer;
  /**
   * Resolves with a snapshot of `received` once it holds at least `count`
   * messages; rejects after timeoutMs (default 10 s) or when the relay closes.
   */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  /** replace the active faults (setFaults({}) clears them); restarts the failFirstN count */
  setFaults(f: Faults): void;
  /** stop listening and destroy all open connections */
  close(): Promise<void>;
  /**
   * 'smtps://USER@localhost:PORT' when secure, otherwise
   * 'smtp+starttls://USER@localhost:PORT' (also with starttls:false: that relay
   * simulates a stripped STARTTLS for a client that was told to use it).
   * The host part is 'localhost' for 127.0.0.1, '[::1]' for ::1. Default user 'outbox'.
   */
  url(user?: string): string;
}

const DEFAULT_AUTH_METHODS = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2'];
const FAIL_FIRST_REPLY = '421 4.3.2 Service not available, try again later';
const DEFAULT_WAIT_MS = 10_000;
const CLOSE_GRACE_MS = 2_000;

interface ReplyError extends Error {
  responseCode: number;
}

/** '451 4.3.0 Try later' -> Error('4.3.0 Try later') with responseCode 451 */
function replyError(reply: string): ReplyError {
  const m = /^([2-5]\d\d)(?:[ -](.*))?$/s.exec(reply.trim());
  const err = new Error(m ? (m[2] ?? '') : reply) as ReplyError;
  err.responseCode = m ? Number(m[1]) : 451;
  return err;
}

function debugEnabled(): boolean {
  const v = process.env.RELAY_DEBUG;
  return !!v && v !== '0';
}

interface Waiter {
  count: number;
  resolve: (msgs: ReceivedMessage[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

class Relay implements TestRelay {
  port = 0;
  host: string;
  caFile: string;
  ca: Buffer;
  received: ReceivedMessage[] = [];
  /** Every MAIL FROM (accepted or not), when it arrived: attempts, and the spacing of a rate. */
  mailFromTimes: number[] = [];
  private mailAt = new Map<string, number>();
  rejected: ReceivedMessage[] = [];
  connections = 0;
  authAttempts = 0;
  oauthTokens: { token: string; valid: boolean }[] = [];
  dropped = 0;
  sessions: RelaySession[] = [];
  errors: Error[] = [];
  server: SMTPServer;

  private faults: Faults = {};
  private remainingFailures = 0;
  private readonly opts: RelayOptions;
  private readonly users: Record<string, string>;
  private readonly sessionById = new Map<string, RelaySession>();
  private readonly rawSockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private waiters: Waiter[] = [];
  private closed = false;
  private closePromise?: Promise<void>;

  constructor(opts: RelayOptions) {
    this.opts = opts;
    this.host = opts.host ?? '127.0.0.1';
    this.users = opts.users ?? { outbox: 'secret' };
    this.setFaults(opts.faults ?? {});
    const pki = testPki();
    this.caFile = pki.caFile;
    this.ca = pki.ca;
    const cert = pki[opts.cert ?? 'good'];
    const debug = debugEnabled();

    const log =
      (level: string) =>
      (entry: unknown, ...args: unknown[]) => {
        const e = (entry ?? {}) as { tnx?: string; cid?: string };
        if (level === 'debug' && e.tnx === 'command' && e.cid) {
          this.record(e.cid).commands.push(String(args[1] ?? ''));
        }
        if (debug) {
          let i = 1;
          const fmt = String(args[0] ?? '');
          const text = fmt.replace(/%[sd]/g, () => String(args[i++]));
          console.error(`[relay:${this.port} ${level}${e.cid ? ' ' + e.cid : ''}] ${text} ${args.slice(i).join(' ')}`);
        }
      };
    const logger = {
      level: () => undefined,
      trace: log('trace'),
      debug: log('debug'),
      info: log('info'),
      warn: log('warn'),
      error: log('error'),
      fatal: log('fatal'),
    };

    this.server = new SMTPServer({
      secure: !!opts.secure,
      key: cert.key,
      cert: cert.cert,
      ...(opts.requestClientCert ? { requestCert: true, rejectUnauthorized: false, ca: [pki.ca] } : {}),
      name: 'relay.test',
      banner: 'Outbox test relay',
      authMethods: opts.authMethods ?? DEFAULT_AUTH_METHODS,
      authOptional: opts.authRequired === false,
      allowInsecureAuth: false,
      hideSTARTTLS: opts.starttls === false || opts.starttls === 'hidden',
      ...(opts.starttls === false ? { disabledCommands: ['STARTTLS'] } : {}),
      hidePIPELINING: opts.pipelining === false,
      hideDSN: !opts.dsn,
      hideSMTPUTF8: opts.smtputf8 === false,
      hideENHANCEDSTATUSCODES: true,
      ...(opts.size ? { size: opts.size, rejectOversized: true } : {}),
      disableReverseLookup: true,
      socketTimeout: 15_000,
      closeTimeout: CLOSE_GRACE_MS,
      logger,
      onConnect: (session, cb) => this.onConnect(session, cb),
      onSecure: (socket, session, cb) => this.onSecure(socket, session, cb),
      onAuth: (auth, session, cb) => this.onAuth(auth, session, cb),
      onMailFrom: (address, session, cb) => {
        this.mailFromTimes.push(Date.now());
        this.mailAt.set(session.id, Date.now());
        const f = this.faults.mailFrom;
        const only = this.faults.onlySender;
        if (!f && only && address.address.toLowerCase() !== only.address.toLowerCase()) {
          return cb(replyError(only.reply ?? '553 5.7.1 Sender address rejected: not owned by user'));
        }
        cb(f ? replyError(f) : null);
      },
      onRcptTo: (address, _session, cb) => {
        const f = this.faults.rcpt?.[address.address.toLowerCase()];
        cb(f ? replyError(f) : null);
      },
      onData: (stream, session, cb) => this.onData(stream, session, cb),
    });
    this.server.on('error', (err: Error) => {
      this.errors.push(err);
    });
    this.server.server.on('connection', (socket: Socket) => {
      this.connections++;
      this.rawSockets.add(socket);
      socket.once('close', () => this.rawSockets.delete(socket));
    });
  }

  async listen(): Promise<void> {
    const net = this.server.server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      net.once('error', onError);
      this.server.listen(this.opts.port ?? 0, this.host, () => {
        net.off('error', onError);
        resolve();
      });
    });
    const addr = net.address();
    if (!addr || typeof addr !== 'object') throw new Error('relay: no listening address');
    this.port = addr.port;
  }

  private record(id: string): RelaySession {
    let s = this.sessionById.get(id);
    if (!s) {
      s = { id, remoteAddress: '', secure: false, commands: [] };
      this.sessionById.set(id, s);
      this.sessions.push(s);
    }
    return s;
  }

  private onConnect(session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    const rec = this.record(session.id);
    rec.remoteAddress = session.remoteAddress;
    rec.secure = !!session.secure;
    if (this.faults.greeting) return cb(replyError(this.faults.greeting));
    if (this.remainingFailures > 0) {
      this.remainingFailures--;
      return cb(replyError(FAIL_FIRST_REPLY));
    }
    cb();
  }

  private onSecure(socket: Socket | TLSSocket, session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    const rec = this.record(session.id);
    rec.secure = true;
    rec.tlsStartIndex = rec.commands.length;
    const tlsSocket = socket as TLSSocket;
    if (this.opts.requestClientCert && typeof tlsSocket.getPeerCertificate === 'function') {
      const peer = tlsSocket.getPeerCertificate();
      if (peer && peer.fingerprint256) {
        const cn = peer.subject?.CN;
        rec.clientCert = {
          subjectCN: Array.isArray(cn) ? cn[0] : cn,
          fingerprint256: peer.fingerprint256,
          authorized: tlsSocket.authorized,
        };
      }
    }
    cb();
  }

  private onAuth(
    auth: SMTPServerAuthentication,
    session: SMTPServerSession,
    cb: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void,
  ): void {
    this.authAttempts++;
    if (this.faults.authReply) return cb(replyError(this.faults.authReply));
    const user = auth.username ?? '';
    const known = Object.prototype.hasOwnProperty.call(this.users, user);
    const pass = known ? this.users[user] : undefined;
    let ok = false;
    switch (auth.method as string) {
      case 'PLAIN':
      case 'LOGIN':
        ok = known && auth.password === pass;
        break;
      case 'CRAM-MD5':
        ok = known && pass !== undefined && auth.validatePassword(pass);
        break;
      case 'XOAUTH2':
      case 'OAUTHBEARER':
        if (this.opts.oauthValidate) {
          const token = auth.accessToken ?? '';
          void this.opts.oauthValidate(user, token).then(
            (valid) => {
              this.oauthTokens.push({ token, valid });
              if (!valid) return cb(null, { data: { status: 'invalid_token', schemes: 'bearer', scope: 'https://mail.example/' } });
              this.record(session.id).authUser = user;
              cb(null, { user });
            },
            (err: Error) => cb(err),
          );
          return;
        }
        ok = known && auth.accessToken === `token-${user}`;
        if (!ok) {
          return cb(null, { data: { status: '401', schemes: 'bearer', scope: 'https://mail.example/' } });
        }
        break;
      default:
        ok = false;
    }
    if (!ok) {
      return cb(null, { message: '5.7.8 Authentication credentials invalid', responseCode: 535 });
    }
    this.record(session.id).authUser = user;
    cb(null, { user });
  }

  private findConnectionSocket(sessionId: string): Socket | TLSSocket | undefined {
    for (const conn of this.server.connections) {
      if (conn.id === sessionId) return conn._socket;
    }
    return undefined;
  }

  private onData(stream: SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void): void {
    const chunks: Buffer[] = [];
    stream.on('error', () => undefined); // the client may go away mid-message

    if (this.faults.dropMidData) {
      let dropping = false;
      const drop = () => {
        if (dropping) return;
        dropping = true;
        this.dropped++;
        // defer: never tear the socket down from inside the parser's write
        setImmediate(() => {
          const sock = this.findConnectionSocket(session.id);
          if (sock && !sock.destroyed) sock.destroy();
        });
        // cb is deliberately never called: the client gets no reply to DATA
      };
      stream.on('data', drop);
      stream.on('end', drop);
      return;
    }

    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const env = session.envelope;
      const msg: ReceivedMessage = {
        mailFrom: env.mailFrom ? env.mailFrom.address : '',
        rcptTo: env.rcptTo.map((r) => r.address),
        data: Buffer.concat(chunks),
        secure: !!session.secure,
        sessionId: session.id,
        mailFromArgs: (env.mailFrom && env.mailFrom.args) || {},
      };
      const at = this.mailAt.get(session.id);
      if (at !== undefined) msg.mailAt = at;
      if (typeof session.user === 'string') msg.authUser = session.user;
      if (env.bodyType) msg.bodyType = env.bodyType;
      if (env.smtpUtf8) msg.smtpUtf8 = true;
      if (this.opts.dsn) {
        const rcpt: ReceivedDsn['rcpt'] = {};
        for (const r of env.rcptTo) {
          const d: { notify?: string[]; orcpt?: string } = {};
          if (r.dsn?.notify) d.notify = r.dsn.notify;
          if (r.dsn?.orcpt) d.orcpt = r.dsn.orcpt;
          rcpt[r.address] = d;
        }
        msg.dsn = { ret: env.dsn?.ret ?? null, envid: env.dsn?.envid ?? null, rcpt };
      }

      const finish = () => {
        if (stream.sizeExceeded) {
          this.rejected.push(msg);
          return cb(replyError(`552 5.3.4 Message exceeds fixed maximum message size ${this.opts.size}`));
        }
        const fault = this.faults.data;
        if (fault) {
          this.rejected.push(msg);
          return cb(replyError(fault));
        }
        this.received.push(msg);
        this.notifyWaiters();
        cb(null, `2.0.0 OK queued as ${session.id}.${this.received.length}`);
      };
      const delay = this.opts.acceptDelayMs ?? 0;
      if (delay > 0) {
        const t = setTimeout(() => {
          this.timers.delete(t);
          finish();
        }, delay);
        this.timers.add(t);
      } else {
        finish();
      }
    });
  }

  private notifyWaiters(): void {
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (this.received.length >= w.count) {
        clearTimeout(w.timer);
        w.resolve(this.received.slice());
      } else {
        still.push(w);
      }
    }
    this.waiters = still;
  }

  private describe(): string {
    const sess = this.sessions
      .slice(-3)
      .map((s) => `[${s.id}${s.secure ? ' tls' : ''}${s.authUser ? ' ' + s.authUser : ''}: ${s.commands.join(' | ')}]`)
      .join(' ');
    const errs = this.errors
      .slice(-3)
      .map((e) => e.message)
      .join('; ');
    return (
      `connections=${this.connections} authAttempts=${this.authAttempts} rejected=${this.rejected.length}` +
      ` dropped=${this.dropped}; last sessions: ${sess || 'none'}${errs ? '; errors: ' + errs : ''}`
    );
  }

  waitFor(count: number, timeoutMs: number = DEFAULT_WAIT_MS): Promise<ReceivedMessage[]> {
    if (this.received.length >= count) return Promise.resolve(this.received.slice());
    if (this.closed) {
      return Promise.reject(new Error(`relay.waitFor(${count}): relay is closed with ${this.received.length} message(s)`));
    }
    const t0 = Date.now();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        count,
        resolve: (msgs) => {
          noteHeadroom(`relay.waitFor(${count})`, Date.now() - t0, timeoutMs);
          resolve(msgs);
        },
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(
            new Error(`relay.waitFor(${count}): timed out after ${timeoutMs} ms with ${this.received.length} ` + `message(s) received (${this.describe()})`),
          );
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  setFaults(f: Faults): void {
    this.faults = { ...f, ...(f.rcpt ? { rcpt: lowerKeys(f.rcpt) } : {}) };
    this.remainingFailures = Math.max(0, Math.floor(f.failFirstN ?? 0));
  }

  url(user = 'outbox'): string {
    const scheme = this.opts.secure ? 'smtps' : 'smtp+starttls';
    let host = this.host;
    if (host === '127.0.0.1') host = 'localhost';
    else if (host.includes(':')) host = `[${host}]`;
    return `${scheme}://${encodeURIComponent(user)}@${host}:${this.port}`;
  }

  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new Error(`relay.waitFor(${w.count}): relay closed with ${this.received.length} message(s)`));
    }
    this.waiters = [];
    this.closePromise = new Promise<void>((resolve) => {
      let done = false;
      let fallback: NodeJS.Timeout | undefined;
      let giveUp: NodeJS.Timeout | undefined;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(fallback);
        clearTimeout(giveUp);
        resolve();
      };
      // stop listening; the callback runs once every connection is gone
      this.server.close(finish);
      // destroy the topmost socket of every session (never a raw socket under a
      // TLS handshake in progress: smtp-server warns that this can crash Node)
      for (const conn of this.server.connections) {
        if (!conn._upgrading && !conn._socket.destroyed) conn._socket.destroy();
      }
      // anything still open shortly after (e.g. a STARTTLS handshake in flight)
      fallback = setTimeout(() => {
        for (const s of this.rawSockets) if (!s.destroyed) s.destroy();
      }, 200);
      giveUp = setTimeout(finish, CLOSE_GRACE_MS + 500);
    });
    return this.closePromise;
  }
}

function lowerKeys(r: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r)) out[k.toLowerCase()] = v;
  return out;
}

export async function startRelay(opts: RelayOptions = {}): Promise<TestRelay> {
  const relay = new Relay(opts);
  await relay.listen();
  return relay;
}

/**
 * `relay()` for a test file, like run.ts spoolsForFile(): each call starts a relay, and all of
 * them are closed after the file's tests. Call at module level: `const relay = relaysForFile(after);`.
 */
export function relaysForFile(after: (fn: () => Promise<void>) => void): (opts?: RelayOptions) => Promise<TestRelay> {
  const started: TestRelay[] = [];
  after(async () => {
    for (const r of started.splice(0)) await r.close();
  });
  return async (opts = {}) => {
    const r = await startRelay(opts);
    started.push(r);
    return r;
  };
}
