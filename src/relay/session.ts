/**
 * relay/session.ts — one authenticated SMTP session to a relay, reused for many messages:
 * opened through relay/connect.ts (the opener `outbox check` uses too), then transactions
 * (send), RSET, QUIT, and an abandon for SIGTERM. I/O only: outcomes are decided in
 * runner/classify.ts.
 *
 * A session that fails after the relay answered (a 535 to AUTH, say) ends with QUIT
 * (RFC 5321 4.1.1.10), as a successful one does.
 *
 * Errors are SmtpErrors (relay/errors.ts: nodemailer's fields, or ECONFIG ones of our own), with
 * the relay's host[ip]:port in .peer; the caller passes them to classify(). Next: runner/relay-sessions.ts
 * keeps sessions per slot; runner/transaction.ts sends through them.
 */
import type { Readable } from 'node:stream';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { PreparedRelay } from './prepare.js';
import { openConnection, type Transcript } from './connect.js';
import { smtpError, type SmtpError } from './errors.js';

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
    const c = openConnection(relay, { ehloName: opts.ehloName, ...(opts.transcript ? { transcript: opts.transcript } : {}) });
    const conn = c.conn;
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
        const err = (c.tokenFailure() ?? e0) as SmtpError & { address?: string };
        unregister?.();
        session.peer = c.peer(err.address);
        // The relay answered (535 to AUTH, 5xx to EHLO): say goodbye properly (RFC 5321 4.1.1.10).
        if (err.responseCode && !(conn as unknown as { _destroyed?: boolean })._destroyed) {
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
        err.peer = session.peer;
        reject(err);
      };
      const done = () => {
        settled = true;
        unregister?.();
        conn.removeListener('error', fail);
        resolve(session);
      };
      conn.once('error', fail);
      try {
        conn.connect((err) => {
          if (err) return fail(err);
          session.peer = c.peer();
          if (relay.endpoint.user === undefined) return done();
          c.login((lerr) => (lerr ? fail(lerr) : done()));
        });
      } catch (err) {
        fail(err);
      }
    });
  }

  /** Fails the transaction in flight (destroy() uses it: nodemailer's close() forgets it). */
  private abortSend: ((e: SmtpError) => void) | undefined;

  /** Send one transaction. Resolves with per-recipient results; rejects with an SmtpError. */
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
      // The caller's dsn holds only the parameters that are set (runner/transaction.ts).
      const { dsn, ...rest } = envelope;
      const env = { ...rest, ...(dsn && Object.keys(dsn).length > 0 ? { dsn } : {}) };
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
