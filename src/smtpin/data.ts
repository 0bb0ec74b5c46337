/**
 * smtpin/data.ts — one message's DATA: read the dot-stuffed body (after the 354), stream it
 * through submit() (src/submit/submit.ts, the same durable commit as the command line; never
 * buffered whole) with its Received: line (receivedValue), and say which reply it earned. Only
 * after submit() resolved, i.e. after the control record's rename and directory fsync, is the
 * answer `250 2.0.0 Ok: queued as ID`.
 *
 * Limits: the configured message size (552), the header section (SMTP_MAX_HEADER_BYTES, 552
 * 5.3.4), and a deadline for the whole of DATA (DATA_DEADLINE_FACTOR idle times). On a refusal
 * the rest of DATA is read and dropped so that the dialogue stays in step. Throws EofError when
 * the client went away mid-DATA: submit() removed its partial file, nothing was committed.
 * Used by session.ts (the state machine).
 */
import type { Config } from '../config/config.js';
import { isFieldLine, rfc5322Date } from '../message/headers.js';
import { submit, type RecipientArg, type Submitter } from '../submit/submit.js';
import { EofError, HeaderWatch, DotDecoder, type InputQueue } from './input.js';
import { SizeLimitError, commitErrorReply, reply, type MailFrom, type Reply } from './protocol.js';

/** Largest header section over SMTP (Postfix's header_size_limit is 100 KB). */
export const SMTP_MAX_HEADER_BYTES = 256 * 1024;
/** With the default 5-minute idle time: a message's DATA must arrive within an hour. */
const DATA_DEADLINE_FACTOR = 12;

/** One mail transaction: MAIL FROM and the RCPT TOs accepted so far. */
export interface Transaction {
  from: MailFrom;
  rcpts: RecipientArg[];
}

export interface DataContext {
  input: InputQueue;
  config: Config;
  submitter: Submitter;
  origin: 'smtp-stdio' | 'smtp';
  /** "host[ip]" for the control record and log lines. */
  clientName: string;
  /** What the Received: line says about the session. */
  stamp: SessionStamp;
  log?: ((line: string) => void) | undefined;
  /** Called after the commit (delivery kick, log). Must not throw. */
  onCommitted?: ((info: CommittedInfo) => void) | undefined;
  /** The authenticated client, for onCommitted. */
  sasl: { saslUser?: string; saslMethod?: string | undefined };
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

/** The session's side of the Received: line. */
export interface SessionStamp {
  hostname: string;
  heloName: string | null;
  esmtp: boolean;
  secure: boolean;
  authenticated: boolean;
  client: { host: string; ip?: string };
  /** The calling user (-bs), named in the line. */
  user?: { uid: number; name: string } | undefined;
}

/** The Received: value (after "Received: "), folded with LF + TAB, as a byte string. Pure. */
export function receivedValue(s: SessionStamp, id: string, date: Date, rcpts: RecipientArg[], utf8: boolean): string {
  // RFC 3848 protocol names (RFC 6531's UTF8SMTP* when SMTPUTF8 was used).
  const protocol = s.esmtp ? `${utf8 ? 'UTF8SMTP' : 'ESMTP'}${s.secure ? 'S' : ''}${s.authenticated ? 'A' : ''}` : 'SMTP';
  const u = s.user;
  const from = s.client.ip
    ? `${s.heloName} (${s.client.host} [${s.client.ip}])`
    : `${s.heloName} (${s.client.host}${u && /^[\x21-\x7e]+$/.test(u.name) ? `, user ${u.name}` : ''})`;
  const by = u ? `${s.hostname} (Outbox, from userid ${u.uid})` : `${s.hostname} (Outbox)`;
  const forPart = rcpts.length === 1 ? `\n\tfor <${rcpts[0]!.address}>` : '';
  const value = `from ${from}\n\tby ${by}\n\twith ${protocol} id ${id}${forPart}; ${rfc5322Date(date)}`;
  // submit() handles header text as one char per byte: a UTF-8 address goes in as its bytes.
  return Buffer.from(value, 'utf8').toString('latin1');
}

/** Read DATA (the 354 was sent) and commit it; the reply to send (250 only once committed). */
export async function receiveMessage(ctx: DataContext, tx: Transaction): Promise<Reply> {
  const q = ctx.input;
  // DATA as a whole must finish within DATA_DEADLINE_FACTOR idle times (a client dripping a
  // byte now and then is dropped); each wait is still bounded by the idle time.
  const deadline = Date.now() + q.idleMs * DATA_DEADLINE_FACTOR;
  const dec = new DotDecoder();
  const limit = ctx.config.maxMessageSize;
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
      config: { ...ctx.config, maxMessageSize: 0 },
      submitter: ctx.submitter,
      sender: tx.from.sender, // '' is the null sender
      recipients: rcpts,
      extractRecipients: false,
      ignoreDots: true, // already unstuffed by DotDecoder
      ...(tx.from.body ? { bodyType: tx.from.body } : {}),
      dsn: { ...(tx.from.ret ? { ret: tx.from.ret } : {}), ...(tx.from.envid ? { envid: tx.from.envid } : {}) },
      smtputf8: tx.from.smtputf8,
      origin: ctx.origin,
      client: ctx.clientName,
      received: (id, date) => receivedValue(ctx.stamp, id, date, rcpts, tx.from.smtputf8),
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
    if (r.code === 451) ctx.log?.(`warning: ${ctx.clientName}: commit failed: ${(failure as Error)?.message ?? String(failure)}`);
    return r;
  }
  /* The message is committed (control record renamed and fsync'd): only now say so. */
  const res = result!;
  ctx.onCommitted?.({ id: res.id, sender: res.sender, recipients: res.recipients, size: res.size, client: ctx.clientName, ...ctx.sasl });
  return reply(250, '2.0.0', `Ok: queued as ${res.id}`);
}
