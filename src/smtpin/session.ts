/**
 * smtpin/session.ts — the SMTP server engine: one session, from greeting to QUIT.
 *
 * The same engine runs `sendmail -bs` (stdio.ts, stdin/stdout) and every connection of
 * `outbox serve` (listener.ts, TCP and TLS): there is one implementation of the dialogue and one
 * commit path. Each message is committed with src/submit/submit.ts's submit() — the same
 * durable commit as the command line — while the DATA bytes stream through it (never buffered
 * whole); `250 2.0.0 Ok: queued as ID` is sent only after submit() resolved, i.e. after the
 * control record's rename and directory fsync.
 *
 * State: greeted -> (HELO|EHLO) -> MAIL -> RCPT+ -> DATA -> back to "helo done"; RSET and
 * EHLO reset the transaction; several messages per session. Bad sequences get 503, syntax
 * 501/555, bad addresses 501/553, size 552, commit failures 554 (data) or 451 (spool), see
 * protocol.ts commitErrorReply. EOF in the middle of DATA makes the body iterable throw, so
 * submit() removes the partial message and nothing is committed.
 *
 * Limits (a hostile client cannot make us hold unbounded memory): command lines of
 * `maxLineLength` bytes, `maxRecipients` per message, `maxErrors` errors per session (then 421
 * and close), `idleTimeoutMs` for any wait for input, a bounded input queue (input.ts), and
 * replies are flushed with back-pressure before reading more.
 *
 * Throws nothing: run() resolves to how the session ended.
 * Next: stdio.ts, listener.ts; pure pieces in protocol.ts and input.ts.
 */
import { expandRecipient } from '../config/aliases.js';
import { EX_CONFIG, EX_NOUSER } from '../sysexits.js';
import type { Config } from '../config/config.js';
import { rfc5322Date } from '../message/headers.js';
import { submit, type RecipientArg, type Submitter } from '../submit/submit.js';
import { isFieldLine } from '../message/headers.js';
import { EofError, HeaderWatch, DotDecoder, InputQueue, readLine, TimeoutError } from './input.js';
import {
  HELP_TEXT,
  SizeLimitError,
  checkHeloName,
  commitErrorReply,
  ehloReply,
  formatReply,
  parseCommand,
  parseMailFrom,
  parseRcptTo,
  reply,
  type MailFrom,
  type Reply,
} from './protocol.js';

export interface Transport {
  input: InputQueue;
  /** Write bytes; resolves once the transport accepted them (waits for 'drain'). */
  write(text: string): Promise<void>;
  /** true once TLS is active. */
  secure: boolean;
  /** Present when STARTTLS can be offered: upgrade the connection (after the 220 was sent). */
  startTls?: () => Promise<void>;
}

export interface ClientInfo {
  /** Reverse name or "localhost"; "unknown" when none. */
  host: string;
  /** Peer address; undefined for stdio. */
  ip?: string;
  /** The client may submit without AUTH (loopback peer, or -bs). */
  trusted: boolean;
}

export interface Authenticator {
  mechanisms: string[];
  verify(user: string, password: string): Promise<boolean>;
  /** A refusal (421 4.7.0, then the session ends) before any credentials are read, e.g. an address that failed too often. */
  refusal?(): string | null;
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

export interface CommittedInfo {
  id: string;
  sender: string;
  recipients: string[];
  size: number;
  client: string;
  saslUser?: string;
  saslMethod?: string | undefined;
}

export type SessionEnd = 'quit' | 'eof' | 'eof-in-data' | 'timeout' | 'too-many-errors' | 'io-error';

interface Transaction {
  from: MailFrom;
  rcpts: RecipientArg[];
}

const AUTH_LINE_MAX = 12_288;
/** Largest header section over SMTP (Postfix's header_size_limit is 100 KB). */
export const SMTP_MAX_HEADER_BYTES = 256 * 1024;
/** With the default 5-minute idle time: a message's DATA must arrive within an hour. */
const DATA_DEADLINE_FACTOR = 12;
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
        const m = parseMailFrom(arg, {
          domain: this.o.config.domain,
          esmtp: this.esmtp,
          maxSize: this.o.config.maxMessageSize,
          authOffered: Boolean(this.o.auth),
        });
        if ('code' in m) return fail(m);
        const refused = this.o.checkSender?.(m.sender, this.saslUser);
        if (refused) return fail(reply(553, '5.7.1', refused));
        this.tx = { from: m, rcpts: [] };
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
        const r = parseRcptTo(arg, {
          domain: this.o.config.domain,
          esmtp: this.esmtp,
          maxSize: this.o.config.maxMessageSize,
          authOffered: Boolean(this.o.auth),
          smtputf8: this.tx.from.smtputf8,
        });
        if ('code' in r) return fail(r);
        // Aliases are expanded again at the commit; checking here turns an `error:` alias or a
        // refused pipe alias into a reply at RCPT instead of a failure after DATA.
        const x = expandRecipient(this.o.config, r.given ?? r.address);
        if ('error' in x) {
          return fail(
            x.exitCode === EX_NOUSER ? reply(550, '5.1.1', x.error) : x.exitCode === EX_CONFIG ? reply(451, '4.3.5', x.error) : reply(553, '5.1.3', x.error),
          );
        }
        this.tx.rcpts.push({
          address: r.given ?? r.address,
          ...(r.notify ? { notify: r.notify } : {}),
          ...(r.orcpt ? { orcpt: r.orcpt } : {}),
        });
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
    const [mechRaw, initial] = arg.trim().split(/\s+/, 2);
    const mech = (mechRaw ?? '').toUpperCase();
    if (!this.o.auth.mechanisms.includes(mech)) return fail(reply(504, '5.5.4', 'Unrecognized authentication type'));
    const refusal = this.o.auth.refusal?.();
    if (refusal) {
      this.o.log?.(`warning: ${this.clientName}: AUTH refused: ${refusal}`);
      this.send(reply(421, '4.7.0', `${this.o.config.hostname} ${refusal}`));
      return 'abort';
    }

    const challenge = async (text: string): Promise<string | null> => {
      this.send({ code: 334, enhanced: '', lines: [text] });
      const res = await readLine(this.t.input, AUTH_LINE_MAX);
      if (res === null) throw new EofError('in AUTH');
      if (res.tooLong) return null;
      return res.line.trim();
    };
    const b64 = (s: string): string | null => (/^[A-Za-z0-9+/]*={0,2}$/.test(s) ? Buffer.from(s, 'base64').toString('utf8') : null);

    let user: string | null = null;
    let pass: string | null = null;
    let resp: string | null;
    if (mech === 'PLAIN') {
      resp = initial !== undefined ? initial : await challenge('');
      if (resp === '*') return fail(reply(501, '5.7.0', 'Authentication aborted'));
      const dec = resp === null ? null : resp === '=' ? '' : b64(resp);
      const parts = dec?.split('\0');
      if (parts && parts.length === 3) {
        // authzid must be empty or equal to the authcid: no acting as someone else.
        if (parts[0] === '' || parts[0] === parts[1]) {
          user = parts[1]!;
          pass = parts[2]!;
        }
      }
    } else {
      resp = initial !== undefined ? initial : await challenge('VXNlcm5hbWU6');
      if (resp === '*') return fail(reply(501, '5.7.0', 'Authentication aborted'));
      user = resp === null ? null : b64(resp);
      if (user !== null) {
        resp = await challenge('UGFzc3dvcmQ6');
        if (resp === '*') return fail(reply(501, '5.7.0', 'Authentication aborted'));
        pass = resp === null ? null : b64(resp);
      }
    }
    if (user === null || pass === null) return fail(reply(501, '5.5.2', 'Error: malformed authentication response'));
    const ok = user !== '' && !/[\x00-\x1f:]/.test(user) && (await this.o.auth.verify(user, pass));
    if (!ok) {
      this.authFailures++;
      this.o.log?.(`warning: ${this.clientName}: SASL ${mech} authentication failed`);
      if (this.authFailures >= 3) {
        this.send(reply(535, '5.7.8', 'Error: authentication failed'));
        this.send(reply(421, '4.7.0', `${this.o.config.hostname} Error: too many authentication failures`));
        return 'abort';
      }
      return fail(reply(535, '5.7.8', 'Error: authentication failed'));
    }
    this.saslUser = user;
    this.saslMethod = mech;
    this.send(reply(235, '2.7.0', 'Authentication successful'));
    return 'ok';
  }

  /** The Received: value (after "Received: "), folded with LF + TAB, as a byte string. */
  private received(id: string, date: Date, rcpts: RecipientArg[], utf8: boolean): string {
    // RFC 3848 protocol names (RFC 6531's UTF8SMTP* when SMTPUTF8 was used).
    const protocol = this.esmtp ? `${utf8 ? 'UTF8SMTP' : 'ESMTP'}${this.t.secure ? 'S' : ''}${this.saslUser !== undefined ? 'A' : ''}` : 'SMTP';
    const u = this.o.receivedUser;
    const from = this.o.client.ip
      ? `${this.heloName} (${this.o.client.host} [${this.o.client.ip}])`
      : `${this.heloName} (${this.o.client.host}${u && /^[\x21-\x7e]+$/.test(u.name) ? `, user ${u.name}` : ''})`;
    const by = u ? `${this.o.config.hostname} (Outbox, from userid ${u.uid})` : `${this.o.config.hostname} (Outbox)`;
    const forPart = rcpts.length === 1 ? `\n\tfor <${rcpts[0]!.address}>` : '';
    const value = `from ${from}\n\tby ${by}\n\twith ${protocol} id ${id}${forPart}; ${rfc5322Date(date)}`;
    // submit() handles header text as one char per byte: a UTF-8 address goes in as its bytes.
    return Buffer.from(value, 'utf8').toString('latin1');
  }

  private async data(tx: Transaction): Promise<void> {
    this.send(reply(354, '', 'End data with <CR><LF>.<CR><LF>'));
    const q = this.t.input;
    // DATA as a whole must finish within DATA_DEADLINE_FACTOR idle times (a client dripping a
    // byte now and then is dropped); each wait is still bounded by the idle time.
    const deadline = Date.now() + q.idleMs * DATA_DEADLINE_FACTOR;
    const dec = new DotDecoder();
    const limit = this.o.config.maxMessageSize;
    let bytes = 0;
    let pending: Buffer[] = [];
    let eof = false;
    let overLimit = false;
    let headerTooBig = false;
    const headers = new HeaderWatch(SMTP_MAX_HEADER_BYTES, isFieldLine);

    /** Next decoded chunk of the body, or null once the end marker was read. */
    const nextChunk = async (): Promise<Buffer | null> => {
      while (pending.length === 0) {
        if (dec.done) return null;
        const b = await q.read(deadline);
        if (b === null) {
          eof = true;
          throw new EofError('in DATA');
        }
        const { out, rest } = dec.push(b);
        if (rest) q.unshift(rest);
        for (const o of out) bytes += o.length;
        pending = out;
        if (limit > 0 && bytes > limit) {
          overLimit = true;
          pending = [];
          throw new SizeLimitError(limit);
        }
        if (!headers.done) {
          for (const o of out) {
            if (!headers.feed(o)) {
              headerTooBig = true;
              pending = [];
              throw new SizeLimitError(SMTP_MAX_HEADER_BYTES);
            }
          }
        }
      }
      return pending.shift()!;
    };
    // submit() may stop reading early (bad data, size): its for-await calls return(), which
    // must not end our stream, because the rest of DATA still has to be read and discarded.
    const body: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          const c = await nextChunk();
          return c === null ? { done: true, value: undefined } : { done: false, value: c };
        },
        return: async () => ({ done: true, value: undefined }),
      }),
    };

    const rcpts = tx.rcpts;
    let result: Awaited<ReturnType<typeof submit>> | null = null;
    let failure: unknown = null;
    try {
      result = await submit({
        // The session enforces the size limit on the DATA bytes itself (552 above).
        config: { ...this.o.config, maxMessageSize: 0 },
        submitter: this.o.submitter,
        sender: tx.from.sender, // '' is the null sender
        recipients: rcpts,
        extractRecipients: false,
        ignoreDots: true, // already unstuffed by DotDecoder
        ...(tx.from.body ? { bodyType: tx.from.body } : {}),
        dsn: { ...(tx.from.ret ? { ret: tx.from.ret } : {}), ...(tx.from.envid ? { envid: tx.from.envid } : {}) },
        smtputf8: tx.from.smtputf8,
        origin: this.o.origin,
        client: this.clientName,
        received: (id, date) => this.received(id, date, rcpts, tx.from.smtputf8),
        input: body,
      });
    } catch (e) {
      failure = e;
    }
    if (eof) throw new EofError('in DATA'); // nothing was committed: submit() removed its file
    if (failure !== null) {
      // Read and drop the rest of DATA so that the dialogue stays in step.
      pending = [];
      while (!dec.done) {
        const b = await q.read(deadline);
        if (b === null) throw new EofError('in DATA');
        const { rest } = dec.push(b);
        if (rest) q.unshift(rest);
      }
      const r = headerTooBig
        ? reply(552, '5.3.4', 'Message header section exceeds fixed limit')
        : overLimit
          ? commitErrorReply(new SizeLimitError(limit))
          : commitErrorReply(failure);
      if (r.code === 451) this.o.log?.(`warning: ${this.clientName}: commit failed: ${(failure as Error)?.message ?? String(failure)}`);
      this.send(r);
      return;
    }
    /* The message is committed (control record renamed and fsync'd): only now say so. */
    const res = result!;
    this.send(reply(250, '2.0.0', `Ok: queued as ${res.id}`));
    this.o.onCommitted?.({
      id: res.id,
      sender: res.sender,
      recipients: res.recipients,
      size: res.size,
      client: this.clientName,
      ...(this.saslUser !== undefined ? { saslUser: this.saslUser, saslMethod: this.saslMethod } : {}),
    });
  }
}
