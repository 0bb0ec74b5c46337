/**
 * submit/submit.ts — one message from a caller into the spool: the durable commit.
 *
 * Used by the command line (sendmail [-t] [-i] ...) and by the SMTP paths (-bs, the listener).
 * Flow: check the envelope arguments (before reading any input), create msg/<ID>, stream the
 * input through the normaliser, fix up the header section when it is complete, stream the body,
 * then commit: the target fsyncs the file and writes the control record. Nothing is buffered whole. Where the files go is the
 * SubmitTarget's business (src/spool/drop.ts): the queue (msg/ + ctl/) for the spool's owner,
 * the drop directory incoming/ for every other user of the system spool.
 *
 * Throws OutboxError: EX_USAGE (no recipients and no -t, or none found by -t; bad argument),
 * EX_DATAERR (NUL byte, malformed header section, bad address, too large), EX_CANTCREAT /
 * EX_TEMPFAIL (spool not writable, disk full; see exitCodeOf). On any failure the partial message
 * is removed: nothing half-written is ever committed.
 */
import { passwdEntry } from '../passwd.js';
import type { Config } from '../config/config.js';
import type { DsnOptions } from '../cli/flags.js';
import { EX_DATAERR, EX_USAGE, OutboxError } from '../sysexits.js';
import { addressKey, checkAddress, formatDisplayName, isAscii, splitAddressList } from '../message/address.js';
import { fixupHeaders, isFieldLine, isMboxFromLine, parseHeaderSection, recipientFieldValues } from '../message/headers.js';
import { Normalizer } from '../message/normalize.js';
import { MAX_HEADER_BYTES, NUL_ERROR, headerTooLarge } from '../message/content.js';
import { expandRecipient } from '../config/aliases.js';
import { FORMAT_VERSION, type ControlRecord, type RecipientState } from '../spool/format.js';
import { uniqueSuffix } from '../spool/spool.js';
import { unlink } from '../spool/file.js';
import { type SubmitTarget, submitTarget } from '../spool/drop.js';

export interface Submitter {
  uid: number;
  /** Login name. */
  name: string;
  /**
   * Full name for From: when the message has none and -F was not given; a function is called
   * only then (so /etc/passwd is read only for messages without From:).
   */
  fullName?: string | (() => string | undefined);
}

export interface RecipientArg {
  address: string;
  notify?: string[];
  orcpt?: string;
}

export interface SubmitRequest {
  config: Config;
  submitter: Submitter;
  /** -f as given: undefined = default sender, '' or '<>' = null sender. */
  sender?: string | undefined;
  /** -F */
  fullName?: string | undefined;
  /** Recipient arguments; each may hold an address list. */
  recipients: (string | RecipientArg)[];
  /** -t */
  extractRecipients: boolean;
  /** -i: no dot handling (SMTP input is already unstuffed: pass true). */
  ignoreDots: boolean;
  bodyType?: '7BIT' | '8BITMIME' | undefined;
  dsn: DsnOptions;
  smtputf8?: boolean;
  origin: string;
  client?: string;
  /** The Received: value for this message. */
  received: (id: string, date: Date) => string;
  /** The message. Chunks are handed over: the normaliser may rewrite their bytes (dots, in place). */
  input: AsyncIterable<Buffer | string>;
  now?: () => number;
  /**
   * Keep queue runners (the daemon, background kicks) away from this message for this long after
   * arrival: -odi's own delivery child takes it first, and if that child dies the message simply
   * becomes due then. Not used in drop mode (pickup makes messages due at once).
   */
  reserveMs?: number;
  /** Called with the queue id as soon as it is allocated (before the commit). */
  onId?: (id: string) => void;
  /** Where to write (default: submitTarget(config): the queue, or incoming/ of the system spool). */
  target?: SubmitTarget;
}

export interface SubmitResult {
  id: string;
  sender: string;
  recipients: string[];
  size: number;
  record: ControlRecord;
  /** true: written to the drop directory; the runner picks it up (no background kick possible). */
  dropped: boolean;
}

/** Turn -f's value into an envelope sender ('' for the null sender). */
export function resolveSender(raw: string | undefined, req: { submitter: Submitter; config: Config }): string {
  if (raw === undefined) return `${req.submitter.name}@${req.config.domain}`;
  const t = raw.trim();
  if (t === '' || t === '<>') return '';
  const list = splitAddressList(t);
  if (list.length !== 1) throw new OutboxError(EX_USAGE, `-f ${raw}: expected exactly one sender address`);
  const c = checkAddress(list[0]!, req.config.domain);
  if (!c.ok) throw new OutboxError(EX_USAGE, `-f: ${c.error}`);
  return c.address;
}

/** Addresses from recipient arguments, qualified and checked (and aliased when `config` is given). */
export function resolveRecipients(args: (string | RecipientArg)[], domain: string, config?: Config): RecipientArg[] {
  const out: RecipientArg[] = [];
  for (const arg of args) {
    const a = typeof arg === 'string' ? { address: arg } : arg;
    for (const piece of splitAddressList(a.address)) {
      if (config) {
        // Aliases, local names and this host's name (issue 4): src/config/aliases.ts expandRecipient.
        for (const address of expandOrThrow(config, piece, 'recipient')) out.push({ ...a, address });
        continue;
      }
      const c = checkAddress(piece, domain);
      if (!c.ok) throw new OutboxError(EX_DATAERR, `recipient ${c.error}`);
      out.push({ ...a, address: c.address });
    }
  }
  return out;
}

/** expandRecipient(), or the refusal as an OutboxError (65 bad address, 67 error:nouser, ...). */
function expandOrThrow(config: Config, piece: string, what: string): string[] {
  const x = expandRecipient(config, piece);
  if ('error' in x) throw new OutboxError(x.exitCode, `${what} ${x.error}`);
  return x.addresses;
}

/** The full name of a local user, from the GECOS field of /etc/passwd (first comma-field). */
export function gecosName(uid: number): string | undefined {
  return passwdEntry(uid)?.gecos.split(',')[0]!.trim() || undefined;
}

class HeaderAccumulator {
  private parts: Buffer[] = [];
  private size = 0;
  private mboxChecked = false;
  /** Set once the header section is complete. */
  done = false;

  /** Feed normalised bytes; returns [headerText, bodyRest] once the section is complete. */
  feed(b: Buffer): { header: string; noHeaders: boolean; rest: Buffer } | null {
    this.parts.push(b);
    this.size += b.length;
    let buf = Buffer.concat(this.parts);
    this.parts = [buf];
    // Drop a leading mbox "From " line (once, at the very start).
    if (!this.mboxChecked) {
      const firstNl = buf.indexOf(10);
      if (firstNl < 0 && buf.length < 5) return null;
      if (isMboxFromLine(buf.subarray(0, 5).toString('latin1'))) {
        if (firstNl < 0) return null;
        buf = buf.subarray(firstNl + 1);
        this.parts = [buf];
        this.size = buf.length;
      }
      this.mboxChecked = true;
    }
    if (buf.length === 0) return null;
    if (buf[0] === 10) return this.finish('', buf.subarray(1), false);
    const nl = buf.indexOf(10);
    if (nl >= 0 && !isFieldLine(buf.subarray(0, nl + 1).toString('latin1'))) {
      const first = buf.subarray(0, nl + 1).toString('latin1');
      if (!first.startsWith(' ') && !first.startsWith('\t')) return this.finish('', buf, true);
    }
    const end = buf.indexOf('\n\n');
    if (end >= 0) return this.finish(buf.subarray(0, end + 1).toString('latin1'), buf.subarray(end + 2), false);
    if (this.size > MAX_HEADER_BYTES) {
      if (nl < 0) return this.finish('', buf, true); // one huge first line: not a header field
      throw new OutboxError(EX_DATAERR, headerTooLarge());
    }
    return null;
  }

  /** End of input while still in the header section: all of it is headers. */
  flush(): { header: string; noHeaders: boolean; rest: Buffer } {
    let buf = Buffer.concat(this.parts);
    if (buf.length > 0 && buf[buf.length - 1] !== 10) buf = Buffer.concat([buf, Buffer.from('\n')]);
    const text = buf.toString('latin1');
    const first = text.slice(0, text.indexOf('\n') + 1);
    if (text !== '' && !isFieldLine(first) && !first.startsWith(' ') && !first.startsWith('\t')) {
      return this.finish('', buf, true);
    }
    return this.finish(text, Buffer.alloc(0), false);
  }

  private finish(header: string, rest: Buffer, noHeaders: boolean) {
    this.done = true;
    this.parts = [];
    return { header, noHeaders, rest };
  }
}

export async function submit(req: SubmitRequest): Promise<SubmitResult> {
  const { config } = req;
  const now = req.now ?? Date.now;
  // Envelope checks first: a usage error must not wait for stdin.
  const sender = resolveSender(req.sender, req);
  const argRcpts = resolveRecipients(req.recipients, config.domain, config);
  if (argRcpts.length === 0 && !req.extractRecipients) {
    throw new OutboxError(EX_USAGE, 'no recipients given (name them as arguments, or use -t to read them from the header)');
  }

  const target = req.target ?? submitTarget(config);
  const maxSize = config.maxMessageSize > 0 ? config.maxMessageSize : (target.maxBytes ?? 0);
  const arrival = now();
  const file = await target.create(arrival);
  req.onId?.(file.id);
  const date = new Date(arrival);
  const normalizer = new Normalizer(req.ignoreDots);
  const acc = new HeaderAccumulator();
  let size = 0;
  let lastByte = 10;
  let headerRcpts: string[] = [];
  let committed = false;

  const write = async (b: Buffer) => {
    if (b.length === 0) return;
    size += b.length;
    if (maxSize > 0 && size > maxSize) {
      throw new OutboxError(EX_DATAERR, `message larger than the limit of ${maxSize} bytes`);
    }
    lastByte = b[b.length - 1]!;
    let off = 0;
    while (off < b.length) {
      const { bytesWritten } = await file.fh.write(b, off, b.length - off);
      off += bytesWritten;
    }
  };

  const emitHeaders = async (h: { header: string; noHeaders: boolean; rest: Buffer }) => {
    let fields: import('../message/headers.js').HeaderField[] = [];
    if (!h.noHeaders) {
      const parsed = parseHeaderSection(h.header);
      if (parsed.kind === 'error') throw new OutboxError(EX_DATAERR, `malformed message: ${parsed.error}`);
      if (parsed.kind === 'headers') fields = parsed.fields;
    }
    if (req.extractRecipients) {
      for (const value of recipientFieldValues(fields)) {
        for (const piece of splitAddressList(Buffer.from(value, 'latin1').toString('utf8'))) {
          headerRcpts.push(...expandOrThrow(config, piece, 'recipient in header:'));
        }
      }
    }
    const fromAddr = sender || `${req.submitter.name}@${config.domain}`;
    const own = req.submitter.fullName;
    const name = req.fullName ?? (typeof own === 'function' ? (fields.some((f) => f.key === 'from') ? undefined : own()) : own);
    const from = name ? `${formatDisplayName(name)} <${fromAddr}>` : fromAddr;
    const header = fixupHeaders({
      fields,
      received: req.received(file.id, date),
      from: Buffer.from(from, 'utf8').toString('latin1'),
      messageId: `<${file.id}.${uniqueSuffix()}@${config.hostname}>`,
      date,
    });
    await write(Buffer.from(header + '\n', 'latin1'));
    await write(h.rest);
  };

  try {
    for await (const chunk of req.input) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      for (const piece of normalizer.push(buf)) {
        if (normalizer.sawNul) throw new OutboxError(EX_DATAERR, NUL_ERROR);
        if (!acc.done) {
          const h = acc.feed(piece);
          if (h) await emitHeaders(h);
        } else await write(piece);
      }
    }
    for (const piece of normalizer.end()) {
      if (!acc.done) {
        const h = acc.feed(piece);
        if (h) await emitHeaders(h);
      } else await write(piece);
    }
    if (!acc.done) await emitHeaders(acc.flush());
    if (normalizer.sawNul) throw new OutboxError(EX_DATAERR, NUL_ERROR);
    if (lastByte !== 10) await write(Buffer.from('\n'));

    // Recipients: the union of arguments and (with -t) header addresses, each once.
    const seen = new Set<string>();
    const recipients: RecipientState[] = [];
    for (const r of [...argRcpts, ...headerRcpts.map((address) => ({ address }) as RecipientArg)]) {
      const key = addressKey(r.address);
      if (seen.has(key)) continue;
      seen.add(key);
      recipients.push({
        address: r.address,
        status: 'pending',
        ...(r.notify ? { notify: r.notify } : req.dsn.notify ? { notify: req.dsn.notify } : {}),
        ...(r.orcpt ? { orcpt: r.orcpt } : {}),
      });
    }
    // Postfix's sendmail: "No recipient addresses found in message header", EX_USAGE.
    if (recipients.length === 0) throw new OutboxError(EX_USAGE, 'no recipient addresses found in the message header (-t)');

    const record: ControlRecord = {
      v: FORMAT_VERSION,
      id: file.id,
      arrival,
      uid: req.submitter.uid,
      user: req.submitter.name,
      sender,
      recipients,
      ...(req.dsn.ret ? { ret: req.dsn.ret } : {}),
      ...(req.dsn.envid ? { envid: req.dsn.envid } : {}),
      body: req.bodyType ?? (normalizer.sawEightBit ? '8BITMIME' : '7BIT'),
      smtputf8: req.smtputf8 === true || !isAscii(sender) || recipients.some((r) => !isAscii(r.address)),
      size,
      origin: req.origin,
      ...(req.client ? { client: req.client } : {}),
      attempts: 0,
      nextAttempt: req.reserveMs ? arrival + req.reserveMs : 0,
      hold: false,
      history: [{ time: arrival, event: 'queued', detail: `uid=${req.submitter.uid} from=<${sender}> nrcpt=${recipients.length}` }],
    };
    // The commit point: ctl/<ID> (queue) or incoming/<ID>.<R>.env (drop); see spool/drop.ts.
    await target.commit(file, record);
    committed = true;
    /* From here on the mail is safe. */
    return { id: file.id, sender, recipients: recipients.map((r) => r.address), size, record, dropped: target.kind === 'drop' };
  } finally {
    if (!committed) {
      await file.fh.close().catch(() => {});
      await unlink(file.path).catch(() => {});
    }
  }
}
