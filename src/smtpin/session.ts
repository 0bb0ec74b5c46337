/**
 * smtpin/session.ts — the SMTP server engine: one session, from greeting to QUIT (the state
 * machine; its parts: envelope.ts MAIL/RCPT, data.ts DATA and the commit, sasl.ts AUTH).
 *
 * The same engine runs `sendmail -bs` (stdio.ts, stdin/stdout) and every connection of
 * `outbox serve` (listener.ts, TCP and TLS): one implementation of the dialogue, one commit path.
 *
 * State: greeted -> (HELO|EHLO) -> MAIL -> RCPT+ -> DATA -> back to "helo done"; RSET and
 * EHLO reset the transaction; several messages per session. Bad sequences get 503, syntax
 * 501/555, bad addresses 501/553, size 552, commit failures 554 (data) or 451 (spool), see
 * protocol.ts commitErrorReply.
 *
 * Limits (a hostile client cannot make us hold unbounded memory): command lines of
 * `maxLineLength` bytes, `maxRecipients` per message, `maxErrors` errors per session (then 421
 * and close), `idleTimeoutMs` for any wait for input, a bounded input queue (input.ts), and
 * replies are flushed with back-pressure before reading more.
 *
 * Throws nothing: run() resolves to how the session ended.
 * Next: stdio.ts, listener.ts; pure pieces in protocol.ts and input.ts.
 */
import type { Config } from '../config/config.js';
import type { Submitter } from '../submit/submit.js';
import { EofError, readLine, TimeoutError } from './input.js';
import { type CommittedInfo, receiveMessage, type Transaction } from './data.js';
import { type EnvelopeContext, mailFrom, rcptTo } from './envelope.js';
import { AUTH_LINE_MAX, authExchange, type Authenticator } from './sasl.js';
import type { Transport } from './transport.js';
import { HELP_TEXT, checkHeloName, ehloReply, formatReply, parseCommand, reply, type Reply } from './protocol.js';

export interface ClientInfo {
  /** Reverse name or "localhost"; "unknown" when none. */
  host: string;
  /** Peer address; undefined for stdio. */
  ip?: string;
  /** The client may submit without AUTH (loopback peer, or -bs). */
  trusted: boolean;
}

export interface SessionOptions {
  config: Config;
  /** 'smtp-stdio' for -bs, 'smtp' for the listener (stored as the control record's origin). */
  origin: 'smtp-stdio' | 'smtp';
  submitter: Submitter;
  client: ClientInfo;
  /** Set when the listener has AUTH configured. */
  auth?: Authenticator;
  /** Refuse the session at the greeting (554) and answer only QUIT. */
  refuse?: string;
  maxLineLength?: number;
  maxRecipients?: number;
  maxErrors?: number;
  idleTimeoutMs?: number;
  /** Called after each commit (delivery kick, log). Must not throw. */
  onCommitted?: (info: CommittedInfo) => void;
  /** One log line (without a newline). */
  log?: ((line: string) => void) | undefined;
  /** Used when the received line names the calling user (-bs). */
  receivedUser?: { uid: number; name: string };
  /** Why MAIL FROM is refused (553 5.7.1) for this sender and SASL user, or null (the listener's sender_login_match). */
  checkSender?: (sender: string, saslUser: string | undefined) => string | null;
}

export type SessionEnd = 'quit' | 'eof' | 'eof-in-data' | 'timeout' | 'too-many-errors' | 'io-error';

const KNOWN_VERBS = new Set(['HELO', 'EHLO', 'STARTTLS', 'AUTH', 'MAIL', 'RCPT', 'DATA', 'BDAT', 'RSET', 'NOOP', 'VRFY', 'EXPN', 'HELP', 'QUIT']);

export class SmtpSession {
  private pending = '';
  private heloName: string | null = null;
  private esmtp = false;
  private tx: Transaction | null = null;
  private errors = 0;
  private saslUser: string | undefined;
  private saslMethod: string | undefined;
  private authFailures = 0;
  private readonly maxLine: number;
  private readonly maxRcpt: number;
  private readonly maxErrors: number;
  /** Command counts for the disconnect log line (Postfix style). */
  readonly counts: Record<string, number> = {};

  constructor(
    private readonly t: Transport,
    private readonly o: SessionOptions,
  ) {
    this.maxLine = o.maxLineLength ?? 2048;
    this.maxRcpt = o.maxRecipients ?? 1000;
    this.maxErrors = o.maxErrors ?? 20;
    t.input.idleMs = o.idleTimeoutMs ?? 300_000;
    t.input.beforeWait = () => this.flush();
  }

  private get clientName(): string {
    return this.o.client.ip ? `${this.o.client.host}[${this.o.client.ip}]` : this.o.client.host;
  }

  private send(r: Reply): void {
    this.pending += formatReply(r);
  }

  private async flush(): Promise<void> {
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    await this.t.write(text);
  }

  /** Count an error; true when the session must end now. */
  private error(r: Reply): boolean {
    this.send(r);
    this.errors++;
    if (this.errors >= this.maxErrors) {
      this.send(reply(421, '4.7.0', `${this.o.config.hostname} Error: too many errors`));
      return true;
    }
    return false;
  }

  private envelopeContext(): EnvelopeContext {
    return { config: this.o.config, esmtp: this.esmtp, authOffered: Boolean(this.o.auth), checkSender: this.o.checkSender };
  }

  private get authOffered(): boolean {
    return Boolean(this.o.auth) && this.t.secure && this.saslUser === undefined;
  }

  private get mayRelay(): boolean {
    return this.o.client.trusted || this.saslUser !== undefined;
  }

  async run(): Promise<SessionEnd> {
    let end: SessionEnd;
    try {
      end = await this.loop();
    } catch (e) {
      end = e instanceof TimeoutError ? 'timeout' : e instanceof EofError ? 'eof-in-data' : 'io-error';
      if (end === 'timeout') this.send(reply(421, '4.4.2', `${this.o.config.hostname} Error: timeout exceeded`));
    }
    try {
      await this.flush();
    } catch {
      // The client is gone; nothing more to tell it.
    }
    return end;
  }

  private async loop(): Promise<SessionEnd> {
    const host = this.o.config.hostname;
    if (this.o.refuse) {
      this.send(reply(554, '5.7.1', this.o.refuse));
    } else {
      this.send(reply(220, '', `${host} ESMTP Outbox`));
    }
    for (;;) {
      const res = await readLine(this.t.input, this.maxLine);
      if (res === null) return 'eof';
      if (res.tooLong) {
        if (this.error(reply(500, '5.5.2', 'Error: line too long'))) return 'too-many-errors';
        continue;
      }
      const cmd = parseCommand(res.line);
      const key = KNOWN_VERBS.has(cmd.verb) ? cmd.verb.toLowerCase() : 'unknown';
      this.counts[key] = (this.counts[key] ?? 0) + 1;
      if (this.o.refuse && cmd.verb !== 'QUIT' && cmd.verb !== 'NOOP') {
        if (this.error(reply(503, '5.7.1', 'Error: access denied'))) return 'too-many-errors';
        continue;
      }
      const r = await this.command(cmd.verb, cmd.arg);
      if (r === 'quit') return 'quit';
      if (r === 'abort') return 'too-many-errors';
    }
  }

  private async command(verb: string, arg: string): Promise<'ok' | 'quit' | 'abort'> {
    const host = this.o.config.hostname;
    const fail = (r: Reply) => (this.error(r) ? 'abort' : 'ok');
    switch (verb) {
      case 'EHLO':
      case 'HELO': {
        const name = checkHeloName(arg);
        if (!name) return fail(reply(501, '5.5.4', `Syntax: ${verb} hostname`));
        this.heloName = name;
        this.esmtp = verb === 'EHLO';
        this.tx = null;
        if (verb === 'HELO') this.send(reply(250, '', host));
        else {
          this.send(
            ehloReply({
              hostname: host,
              maxSize: this.o.config.maxMessageSize,
              starttls: Boolean(this.t.startTls) && !this.t.secure,
              auth: this.authOffered ? this.o.auth!.mechanisms : [],
            }),
          );
        }
        return 'ok';
      }
      case 'STARTTLS': {
        if (!this.t.startTls || this.t.secure) return fail(reply(502, '5.5.1', 'Error: command not implemented'));
        if (arg.trim() !== '') return fail(reply(501, '5.5.4', 'Syntax: STARTTLS'));
        if (this.tx) return fail(reply(503, '5.5.1', 'Error: MAIL transaction in progress'));
        this.send(reply(220, '2.0.0', 'Ready to start TLS'));
        await this.flush();
        // Anything the client pipelined after STARTTLS is dropped (plaintext command injection).
        await this.t.startTls();
        this.heloName = null;
        this.esmtp = false;
        this.tx = null;
        return 'ok';
      }
      case 'AUTH':
        return this.authCommand(arg);
      case 'MAIL': {
        if (!this.heloName) return fail(reply(503, '5.5.1', 'Error: send HELO/EHLO first'));
        if (this.tx) return fail(reply(503, '5.5.1', 'Error: nested MAIL command'));
        const m = mailFrom(arg, this.envelopeContext(), this.saslUser);
        if ('code' in m) return fail(m);
        this.tx = m;
        this.send(reply(250, '2.1.0', 'Ok'));
        return 'ok';
      }
      case 'RCPT': {
        if (!this.tx) return fail(reply(503, '5.5.1', 'Error: need MAIL command'));
        if (!this.mayRelay) return fail(reply(530, '5.7.0', 'Authentication required'));
        if (this.tx.rcpts.length >= this.maxRcpt) {
          this.send(reply(452, '4.5.3', 'Error: too many recipients'));
          return 'ok';
        }
        const r = rcptTo(arg, this.envelopeContext(), this.tx.from.smtputf8);
        if ('code' in r) return fail(r);
        this.tx.rcpts.push(r);
        this.send(reply(250, '2.1.5', 'Ok'));
        return 'ok';
      }
      case 'DATA': {
        if (arg.trim() !== '') return fail(reply(501, '5.5.4', 'Syntax: DATA'));
        if (!this.tx) return fail(reply(503, '5.5.1', 'Error: need MAIL command'));
        if (this.tx.rcpts.length === 0) return fail(reply(503, '5.5.1', 'Error: need RCPT command'));
        await this.data(this.tx);
        this.tx = null;
        return 'ok';
      }
      case 'BDAT':
        return fail(reply(502, '5.5.1', 'Error: command not implemented'));
      case 'RSET':
        if (arg.trim() !== '') return fail(reply(501, '5.5.4', 'Syntax: RSET'));
        this.tx = null;
        this.send(reply(250, '2.0.0', 'Ok'));
        return 'ok';
      case 'NOOP':
        this.send(reply(250, '2.0.0', 'Ok'));
        return 'ok';
      case 'VRFY':
        if (arg.trim() === '') return fail(reply(501, '5.5.4', 'Syntax: VRFY address'));
        this.send(reply(252, '2.0.0', 'Cannot VRFY user, but will accept message and attempt delivery'));
        return 'ok';
      case 'EXPN':
        return fail(reply(502, '5.5.1', 'Error: EXPN not supported'));
      case 'HELP':
        this.send({ code: 214, enhanced: '2.0.0', lines: HELP_TEXT });
        return 'ok';
      case 'QUIT':
        this.send(reply(221, '2.0.0', 'Bye'));
        return 'quit';
      case '':
        return fail(reply(500, '5.5.2', 'Error: bad syntax'));
      default:
        return fail(reply(502, '5.5.2', 'Error: command not recognized'));
    }
  }

  private async authCommand(arg: string): Promise<'ok' | 'abort'> {
    const fail = (r: Reply) => (this.error(r) ? 'abort' : 'ok');
    if (!this.o.auth) return fail(reply(503, '5.5.1', 'Error: authentication not enabled'));
    if (!this.heloName || !this.esmtp) return fail(reply(503, '5.5.1', 'Error: send EHLO first'));
    if (!this.t.secure) return fail(reply(538, '5.7.11', 'Encryption required for requested authentication mechanism'));
    if (this.saslUser !== undefined) return fail(reply(503, '5.5.1', 'Error: already authenticated'));
    if (this.tx) return fail(reply(503, '5.5.1', 'Error: MAIL transaction in progress'));
    const r = await authExchange(this.o.auth, arg, {
      hostname: this.o.config.hostname,
      clientName: this.clientName,
      failures: this.authFailures,
      log: this.o.log,
      challenge: async (text) => {
        this.send({ code: 334, enhanced: '', lines: [text] });
        const res = await readLine(this.t.input, AUTH_LINE_MAX);
        if (res === null) throw new EofError('in AUTH');
        return res.tooLong ? null : res.line.trim();
      },
    });
    if (r.kind === 'failed') this.authFailures++;
    if (r.kind === 'close') {
      for (const x of r.replies) this.send(x);
      return 'abort';
    }
    if (r.kind !== 'ok') return fail(r.reply);
    const { user, mech } = r;
    this.saslUser = user;
    this.saslMethod = mech;
    this.send(reply(235, '2.7.0', 'Authentication successful'));
    return 'ok';
  }

  private async data(tx: Transaction): Promise<void> {
    this.send(reply(354, '', 'End data with <CR><LF>.<CR><LF>'));
    const { config, submitter, origin, log, onCommitted } = this.o;
    const stamp = { hostname: config.hostname, heloName: this.heloName, esmtp: this.esmtp, secure: this.t.secure, client: this.o.client };
    const sasl = this.saslUser !== undefined ? { saslUser: this.saslUser, saslMethod: this.saslMethod } : {};
    const ctx = { input: this.t.input, config, submitter, origin, clientName: this.clientName, log, onCommitted, sasl };
    this.send(await receiveMessage({ ...ctx, stamp: { ...stamp, authenticated: this.saslUser !== undefined, user: this.o.receivedUser } }, tx));
  }
}
