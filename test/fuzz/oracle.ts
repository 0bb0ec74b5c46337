/**
 * test/fuzz/oracle.ts — what the spool must hold for a given input, written from docs/command-line.md
 * ("The message") and NOT from src/: the fuzz suites compare the built binary against this.
 *
 *  1. every CRLF becomes LF; a lone CR stays;
 *  2. without -i: a lone "." line at the very end (nothing after it) is dropped, and every line
 *     starting with ".." loses one dot;
 *  3. a leading mbox "From " line is dropped;
 *  4. header section = the lines before the first empty line; if the first line is not a field
 *     (name of printable ASCII but ':', then ':') and not a continuation, there are no headers and
 *     everything is body; a continuation first line, or a later line that is neither field nor
 *     continuation, is an error (65), and so is a bare CR anywhere in the header section; a NUL
 *     byte anywhere is an error (65);
 *  5. stored = "Received: ..." + "\tid <ID>; <date>" + header fields without Bcc/Resent-Bcc
 *     + From:/Date:/Message-ID: when missing + empty line + body, ending with LF.
 * Works on latin1 strings: one character per byte.
 */

export type Expected =
  { kind: 'stored'; fields: string; has: { from: boolean; date: boolean; messageId: boolean }; body: string } | { kind: 'error'; why: string };

const FIELD = /^[!-9;-~]+[ \t]*:/;

export function normalise(input: string, ignoreDots: boolean): string {
  let t = input.replace(/\r\n/g, '\n');
  if (!ignoreDots) {
    if (t === '.' || t === '.\n') t = '';
    else if (t.endsWith('\n.')) t = t.slice(0, -1);
    else if (t.endsWith('\n.\n')) t = t.slice(0, -2);
    t = t.replace(/(^|\n)\.\./g, '$1.');
  }
  return t;
}

export function expected(input: Buffer, ignoreDots: boolean): Expected {
  if (input.includes(0)) return { kind: 'error', why: 'NUL' };
  let t = normalise(input.toString('latin1'), ignoreDots);
  if (t.startsWith('From ')) {
    const nl = t.indexOf('\n');
    t = nl < 0 ? '' : t.slice(nl + 1);
  }
  const none = { from: false, date: false, messageId: false };
  const withLf = (s: string) => (s === '' || s.endsWith('\n') ? s : s + '\n');
  if (t === '') return { kind: 'stored', fields: '', has: none, body: '' };
  if (t.startsWith('\n')) return { kind: 'stored', fields: '', has: none, body: withLf(t.slice(1)) };
  const firstEnd = t.indexOf('\n');
  const first = firstEnd < 0 ? t : t.slice(0, firstEnd + 1);
  if (!FIELD.test(first)) {
    if (first.startsWith(' ') || first.startsWith('\t')) return { kind: 'error', why: 'continuation first' };
    return { kind: 'stored', fields: '', has: none, body: withLf(t) };
  }
  const end = t.indexOf('\n\n');
  const section = end < 0 ? withLf(t) : t.slice(0, end + 1);
  const body = end < 0 ? '' : withLf(t.slice(end + 2));
  if (section.includes('\r')) return { kind: 'error', why: 'bare CR in the header section' };
  const lines = section.split(/(?<=\n)/);
  const fields: { key: string; raw: string }[] = [];
  for (const line of lines) {
    const m = FIELD.exec(line);
    if (m) fields.push({ key: line.slice(0, line.indexOf(':')).trim().toLowerCase(), raw: line });
    else if (line.startsWith(' ') || line.startsWith('\t')) fields[fields.length - 1]!.raw += line;
    else return { kind: 'error', why: `not a header line: ${JSON.stringify(line.slice(0, 40))}` };
  }
  const has = (k: string) => fields.some((f) => f.key === k);
  return {
    kind: 'stored',
    fields: fields
      .filter((f) => f.key !== 'bcc' && f.key !== 'resent-bcc')
      .map((f) => f.raw)
      .join(''),
    has: { from: has('from'), date: has('date'), messageId: has('message-id') },
    body,
  };
}

/** null when `stored` is what `exp` says; else a description of the first difference. */
export function compareStored(stored: string, exp: Extract<Expected, { kind: 'stored' }>): string | null {
  const rec = /^Received: [^\n]*\n\tid [0-9A-HJKMNP-TV-Z]{12}; [^\n]*\n/.exec(stored);
  if (!rec) return `no Received: line first: ${JSON.stringify(stored.slice(0, 80))}`;
  let rest = stored.slice(rec[0].length);
  if (!rest.startsWith(exp.fields)) return `header fields differ at ${firstDiff(rest, exp.fields)}`;
  rest = rest.slice(exp.fields.length);
  for (const [have, re] of [
    [exp.has.from, /^From: [^\n]*\n/],
    [exp.has.date, /^Date: [^\n]*\n/],
    [exp.has.messageId, /^Message-ID: <[^\n>]*>\n/],
  ] as const) {
    if (have) continue;
    const m = re.exec(rest);
    if (!m) return `missing added ${re.source.slice(1, 12)} before ${JSON.stringify(rest.slice(0, 60))}`;
    rest = rest.slice(m[0].length);
  }
  const want = '\n' + exp.body;
  if (rest !== want) return `body differs at ${firstDiff(rest, want)} (stored ${rest.length} bytes, expected ${want.length})`;
  return null;
}

function firstDiff(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `offset ${i}: ${JSON.stringify(a.slice(i, i + 30))} vs ${JSON.stringify(b.slice(i, i + 30))}`;
}

/**
 * The bytes a relay receives for a stored message (after the relay's dot-unstuffing): every line
 * break of any kind — the stored LF, a lone CR, or a lone CR right before LF — becomes one CRLF.
 * (nodemailer's DATA stream turns a bare CR into CRLF as its SMTP-smuggling defence.)
 */
export function wireForm(stored: Buffer): Buffer {
  return Buffer.from(stored.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n'), 'latin1');
}
