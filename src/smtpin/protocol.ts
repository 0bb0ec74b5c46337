/**
 * smtpin/protocol.ts — the pure parts of the SMTP server dialogue (RFC 5321 and extensions).
 *
 * Command lines in, values or replies out; no I/O, no clock. Used by smtpin/session.ts, which is
 * the one SMTP server engine behind both `sendmail -bs` (stdio.ts) and `outbox serve` (listener.ts).
 * Covers: command splitting, MAIL FROM / RCPT TO paths and their parameters (SIZE, BODY,
 * SMTPUTF8, RET, ENVID, AUTH; NOTIFY, ORCPT — RFC 1870, 6152, 6531, 3461, 4954), xtext, the
 * EHLO keyword list, and the mapping of a failed commit to an SMTP reply.
 *
 * Throws nothing: every parse returns either a value or a ready-made `Reply`.
 * Next: smtpin/session.ts (the state machine that uses these).
 */
import { checkAddress, isAscii } from '../message/address.js';
import { exitCodeOf, sysexit } from '../sysexits.js';
import { checkNotify } from '../message/dsn.js';

/** One SMTP reply: code, enhanced status (may be '' for 220/221/334/354), text lines. */
export interface Reply {
  code: number;
  enhanced: string;
  lines: string[];
}

export function reply(code: number, enhanced: string, ...lines: string[]): Reply {
  return { code, enhanced, lines: lines.length ? lines : [''] };
}

/** Wire form: multi-line replies use "CODE-" on all lines but the last. */
export function formatReply(r: Reply): string {
  return r.lines
    .map((l, i) => {
      const sep = i === r.lines.length - 1 ? ' ' : '-';
      const text = r.enhanced ? `${r.enhanced} ${l}` : l;
      return `${r.code}${sep}${text}`.trimEnd() + '\r\n';
    })
    .join('');
}

export interface Command {
  /** Upper-cased verb ("MAIL", "RCPT", ...). */
  verb: string;
  /** Everything after the verb and one space, untrimmed at the end. */
  arg: string;
}

export function parseCommand(line: string): Command {
  const m = /^([A-Za-z]+)(?:[ \t]+(.*))?$/s.exec(line.trimEnd());
  if (!m) return { verb: '', arg: line };
  return { verb: m[1]!.toUpperCase(), arg: m[2] ?? '' };
}

/** RFC 3461 xtext: "+" followed by two upper-case hex digits encodes one byte. */
export function decodeXtext(s: string): string | null {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126 || c === 61 /* = */) return null;
    if (s[i] === '+') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      out += String.fromCharCode(parseInt(hex, 16));
      i += 2;
    } else out += s[i];
  }
  return out;
}

/**
 * Split "FROM:<path> PARAMS" / "TO:<path> PARAMS" into the path (without brackets) and the
 * parameter string. Lenient as Postfix is by default: a space after the colon and a path
 * without angle brackets are accepted. Quoted local parts may hold '>' and spaces.
 */
export function splitPath(arg: string, keyword: 'FROM' | 'TO'): { path: string; params: string } | null {
  const m = new RegExp(`^${keyword}:[ \\t]*`, 'i').exec(arg);
  if (!m) return null;
  let rest = arg.slice(m[0].length);
  if (rest.startsWith('<')) {
    let quoted = false;
    for (let i = 1; i < rest.length; i++) {
      const c = rest[i];
      if (quoted && c === '\\') i++;
      else if (c === '"') quoted = !quoted;
      else if (c === '>' && !quoted) {
        const after = rest.slice(i + 1);
        if (after !== '' && !/^[ \t]/.test(after)) return null;
        return { path: rest.slice(1, i), params: after.trim() };
      }
    }
    return null;
  }
  const sp = rest.search(/[ \t]/);
  if (sp < 0) return { path: rest, params: '' };
  return { path: rest.slice(0, sp), params: rest.slice(sp).trim() };
}

/** KEY[=VALUE] parameters; keys upper-cased; a repeated key is an error (null). */
export function parseParams(s: string): Map<string, string | true> | null {
  const out = new Map<string, string | true>();
  if (s.trim() === '') return out;
  for (const p of s.trim().split(/[ \t]+/)) {
    const eq = p.indexOf('=');
    const key = (eq < 0 ? p : p.slice(0, eq)).toUpperCase();
    if (!/^[A-Z0-9][A-Z0-9-]*$/.test(key) || out.has(key)) return null;
    out.set(key, eq < 0 ? true : p.slice(eq + 1));
  }
  return out;
}

export interface MailFrom {
  /** '' for the null sender. */
  sender: string;
  size?: number;
  body?: '7BIT' | '8BITMIME';
  smtputf8: boolean;
  ret?: 'FULL' | 'HDRS';
  envid?: string;
}

export interface ParseContext {
  /** Domain for unqualified addresses. */
  domain: string;
  /** false after HELO: no parameters allowed. */
  esmtp: boolean;
  /** Largest message, bytes; 0 = no limit. */
  maxSize: number;
  /** AUTH is offered on this session (the MAIL AUTH= parameter is then accepted and ignored). */
  authOffered: boolean;
}

const SYNTAX_FROM = reply(501, '5.5.4', 'Syntax: MAIL FROM:<address>');
const SYNTAX_TO = reply(501, '5.5.4', 'Syntax: RCPT TO:<address>');

function badParam(name: string): Reply {
  return reply(501, '5.5.4', `Bad ${name} parameter syntax`);
}

export function parseMailFrom(arg: string, ctx: ParseContext): MailFrom | Reply {
  const sp = splitPath(arg, 'FROM');
  if (!sp) return SYNTAX_FROM;
  const params = parseParams(sp.params);
  if (!params) return badParam('MAIL');
  if (!ctx.esmtp && params.size > 0) return reply(555, '5.5.4', 'MAIL parameters need EHLO');
  const out: MailFrom = { sender: '', smtputf8: false };
  for (const [key, value] of params) {
    switch (key) {
      case 'SIZE': {
        if (value === true || !/^\d{1,20}$/.test(value)) return badParam('SIZE');
        out.size = Number(value);
        break;
      }
      case 'BODY': {
        const v = value === true ? '' : value.toUpperCase();
        if (v !== '7BIT' && v !== '8BITMIME') return reply(555, '5.5.4', 'Unsupported BODY parameter (7BIT and 8BITMIME only)');
        out.body = v;
        break;
      }
      case 'SMTPUTF8':
        if (value !== true) return badParam('SMTPUTF8');
        out.smtputf8 = true;
        break;
      case 'RET': {
        const v = value === true ? '' : value.toUpperCase();
        if (v !== 'FULL' && v !== 'HDRS') return badParam('RET');
        out.ret = v;
        break;
      }
      case 'ENVID': {
        const v = value === true ? null : decodeXtext(value);
        if (v === null || v.length === 0 || v.length > 100 || /[^\x20-\x7e]/.test(v)) return badParam('ENVID');
        out.envid = v;
        break;
      }
      case 'AUTH':
        // RFC 4954 "AUTH=<mailbox>": accepted and ignored when AUTH is offered.
        if (!ctx.authOffered) return reply(555, '5.5.4', 'Unsupported option: AUTH');
        break;
      default:
        return reply(555, '5.5.4', `Unsupported option: ${key}`);
    }
  }
  if (ctx.maxSize > 0 && out.size !== undefined && out.size > ctx.maxSize) {
    return reply(552, '5.3.4', 'Message size exceeds fixed limit');
  }
  const path = sp.path.trim();
  if (path === '') return out; // <>: the null sender
  if (!isAscii(path) && !out.smtputf8) return reply(553, '5.6.7', 'Must declare SMTPUTF8 to send a UTF-8 address');
  const c = checkAddress(path, ctx.domain);
  if (!c.ok || path.length > 320) return reply(501, '5.1.7', 'Bad sender address syntax');
  out.sender = c.address;
  return out;
}

export interface RcptTo {
  /** The address, checked and qualified. */
  address: string;
  /** The path as the client wrote it (a bare `root` stays bare so that aliases apply as on the command line). */
  given?: string;
  notify?: string[];
  orcpt?: string;
}

export function parseRcptTo(arg: string, ctx: ParseContext & { smtputf8: boolean }): RcptTo | Reply {
  const sp = splitPath(arg, 'TO');
  if (!sp) return SYNTAX_TO;
  const params = parseParams(sp.params);
  if (!params) return badParam('RCPT');
  if (!ctx.esmtp && params.size > 0) return reply(555, '5.5.4', 'RCPT parameters need EHLO');
  const out: RcptTo = { address: '' };
  for (const [key, value] of params) {
    switch (key) {
      case 'NOTIFY': {
        if (value === true) return badParam('NOTIFY');
        const notify = checkNotify(value.toUpperCase().split(','));
        if (!notify) return badParam('NOTIFY');
        out.notify = notify;
        break;
      }
      case 'ORCPT': {
        const v = value === true ? null : decodeXtext(value);
        if (v === null || !/^[A-Za-z0-9-]+;./.test(v) || v.length > 500 || /[\x00-\x1f\x7f]/.test(v)) return badParam('ORCPT');
        out.orcpt = v;
        break;
      }
      default:
        return reply(555, '5.5.4', `Unsupported option: ${key}`);
    }
  }
  const path = sp.path.trim();
  if (path === '') return reply(501, '5.1.3', 'Bad recipient address syntax');
  if (!isAscii(path) && !ctx.smtputf8) return reply(553, '5.6.7', 'Must declare SMTPUTF8 to send a UTF-8 address');
  const c = checkAddress(path, ctx.domain);
  if (!c.ok || path.length > 320) return reply(501, '5.1.3', 'Bad recipient address syntax');
  out.address = c.address;
  out.given = path;
  return out;
}

/** The HELO/EHLO argument we accept: one word of printable ASCII (it goes into Received:). */
export function checkHeloName(arg: string): string | null {
  const name = arg.trim();
  if (name === '' || name.length > 255 || !/^[\x21-\x7e]+$/.test(name)) return null;
  return name;
}

export interface EhloOptions {
  hostname: string;
  maxSize: number;
  starttls: boolean;
  /** Mechanisms to offer now (empty: no AUTH keyword). */
  auth: string[];
}

export function ehloReply(o: EhloOptions): Reply {
  const lines = [
    o.hostname,
    'PIPELINING',
    o.maxSize > 0 ? `SIZE ${o.maxSize}` : 'SIZE',
    ...(o.starttls ? ['STARTTLS'] : []),
    ...(o.auth.length ? [`AUTH ${o.auth.join(' ')}`] : []),
    'ENHANCEDSTATUSCODES',
    '8BITMIME',
    'DSN',
    'SMTPUTF8',
  ];
  return { code: 250, enhanced: '', lines };
}

/** Thrown into a commit when DATA grows past the size limit. */
export class SizeLimitError extends Error {
  constructor(limit: number) {
    super(`message larger than the limit of ${limit} bytes`);
    this.name = 'SizeLimitError';
  }
}

/**
 * The reply for a commit that failed. Size -> 552 5.3.4; otherwise by the exit code's RFC 3463
 * status (src/sysexits.ts): a permanent condition (bad data, EX_DATAERR) -> 554 5.x.x with the
 * error's own one-line text; anything temporary (spool not writable, disk full, unexpected) ->
 * 451 4.x.x with a fixed text (details go to the log, not to the client).
 */
export function commitErrorReply(err: unknown): Reply {
  if (err instanceof SizeLimitError) return reply(552, '5.3.4', 'Message size exceeds fixed limit');
  const row = sysexit(exitCodeOf(err));
  if (row.dsn.startsWith('5')) {
    const text = err instanceof Error ? err.message.replace(/[\r\n]+/g, ' ').slice(0, 200) : row.text;
    return reply(554, row.dsn, `Error: ${text}`);
  }
  return reply(451, row.dsn, 'Error: queue file write error, try again later');
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(ip: string | undefined): boolean {
  if (!ip) return false;
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)) return true;
  return ip === '::1' || ip === '0:0:0:0:0:0:0:1';
}

export const HELP_TEXT = [
  'Outbox SMTP: commands HELO EHLO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT',
  'STARTTLS and AUTH where configured; see the Outbox README',
];
