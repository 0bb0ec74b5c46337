/**
 * message/headers.ts — the header section: parse, check, and fix up. Pure.
 *
 * The header section is handled as a latin1 string so that every byte (8-bit included) survives
 * unchanged: headers are never re-serialised. Fields we add are inserted as raw lines; fields we
 * remove (Bcc, Resent-Bcc) are cut out with their continuation lines; every other byte stays.
 *
 * Rules (README.md "The message"):
 *  - A leading mbox `From ` line is removed.
 *  - If the first line is not a header field, the input has no header section: all of it is body.
 *  - Once the header section has begun, every line up to the first empty line must be a field
 *    (`Name: value`) or a continuation (starting with space or tab), without a bare CR;
 *    otherwise the message is refused with EX_DATAERR, naming the line.
 */

export interface HeaderField {
  /** Field name as written. */
  name: string;
  /** Lower-cased name, for lookups. */
  key: string;
  /** The raw lines of the field, including continuations, each ending in '\n'. */
  raw: string;
}

export type HeaderParse = { kind: 'headers'; fields: HeaderField[] } | { kind: 'no-headers' } | { kind: 'error'; error: string };

const FIELD = /^([!-9;-~]+)[ \t]*:/;

export function isFieldLine(line: string): boolean {
  return FIELD.test(line);
}

export function isMboxFromLine(line: string): boolean {
  return line.startsWith('From ');
}

/**
 * Parse a header section: `text` holds the lines before the empty line, each ending in '\n'
 * (LF-normalised), without the empty line itself.
 */
export function parseHeaderSection(text: string): HeaderParse {
  if (text === '') return { kind: 'headers', fields: [] };
  const lines = text.split(/(?<=\n)/);
  const first = lines[0]!;
  if (!isFieldLine(first)) {
    if (first.startsWith(' ') || first.startsWith('\t')) {
      return { kind: 'error', error: 'line 1: the message starts with a header continuation line' };
    }
    return { kind: 'no-headers' };
  }
  const fields: HeaderField[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    // A CR without LF would be a line break on the wire (SMTP clients send it as CRLF): in a
    // header that is a way to inject fields, so it is refused rather than passed on.
    if (line.includes('\r')) {
      return { kind: 'error', error: `line ${i + 1} of the header section contains a bare CR (a carriage return without a line feed)` };
    }
    const m = FIELD.exec(line);
    if (m) {
      fields.push({ name: m[1]!, key: m[1]!.toLowerCase(), raw: line });
    } else if (line.startsWith(' ') || line.startsWith('\t')) {
      fields[fields.length - 1]!.raw += line;
    } else {
      const shown = line.replace(/\n$/, '').slice(0, 60);
      return {
        kind: 'error',
        error: `line ${i + 1} of the header section is not a header field: ${JSON.stringify(shown)} (an empty line must separate the headers from the body)`,
      };
    }
  }
  return { kind: 'headers', fields };
}

/** The unfolded value of a field (after the colon, continuation line breaks removed). */
export function fieldValue(f: HeaderField): string {
  return f.raw
    .slice(f.raw.indexOf(':') + 1)
    .replace(/\r?\n(?=[ \t])/g, '')
    .replace(/\n$/, '')
    .trim();
}

export function findFields(fields: HeaderField[], key: string): HeaderField[] {
  return fields.filter((f) => f.key === key);
}

/** RFC 5322 date-time in local time, e.g. "Sun, 22 Nov 2026 07:58:00 +0100". */
export function rfc5322Date(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return `${days[d.getDay()]}, ${d.getDate()} ${months[d.getMonth()]} ${d.getFullYear()} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
}

export interface FixupInput {
  fields: HeaderField[];
  /** The Received: field to prepend (without the name), or undefined for none. */
  received?: string;
  /** From: value to add when the message has none. */
  from: string;
  /** Message-ID value (with angle brackets) to add when missing. */
  messageId: string;
  date: Date;
}

/**
 * The new header section as raw text: Received prepended, Bcc/Resent-Bcc removed, and From,
 * Date, Message-ID appended when missing. Every other line is kept byte for byte.
 */
export function fixupHeaders(input: FixupInput): string {
  const { fields } = input;
  const has = (key: string) => fields.some((f) => f.key === key);
  let out = '';
  if (input.received !== undefined) out += `Received: ${input.received}\n`;
  for (const f of fields) {
    if (f.key === 'bcc' || f.key === 'resent-bcc') continue;
    out += f.raw;
  }
  if (!has('from')) out += `From: ${input.from}\n`;
  if (!has('date')) out += `Date: ${rfc5322Date(input.date)}\n`;
  if (!has('message-id')) out += `Message-ID: ${input.messageId}\n`;
  return out;
}

/**
 * Recipient fields for -t: Resent-To/Cc/Bcc when the message has Resent- headers (a resent
 * message goes to the resent recipients), else To/Cc/Bcc.
 */
export function recipientFieldValues(fields: HeaderField[]): string[] {
  const resent = fields.filter((f) => f.key === 'resent-to' || f.key === 'resent-cc' || f.key === 'resent-bcc');
  const use = resent.length > 0 ? resent : fields.filter((f) => f.key === 'to' || f.key === 'cc' || f.key === 'bcc');
  return use.map(fieldValue);
}
