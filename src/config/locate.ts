/**
 * config/locate.ts — which line of a TOML file set a key, for error messages. Pure.
 *
 * smol-toml reports lines only for syntax errors; once the document is parsed we know values,
 * not positions. This scanner reads the text line by line, follows `[table]` and `[[array]]`
 * headers (counting array entries) and records the first line that assigns each key path, so a
 * validation error can say `outbox.conf:12: relay.gmail.url: ...`. It is deliberately simple: a
 * line inside a multi-line string that looks like `key = value` may be recorded too, which only
 * affects which line an error points at, never what is accepted. No I/O, never throws.
 */

export type KeyPath = (string | number)[];

/** Split a TOML key (`a."b.c".d`) into its parts; null if it is not a key. */
export function splitKey(text: string): string[] | null {
  const parts: string[] = [];
  let i = 0;
  const s = text.trim();
  while (i < s.length) {
    while (s[i] === ' ' || s[i] === '\t') i++;
    const c = s[i];
    if (c === '"' || c === "'") {
      let j = i + 1;
      let v = '';
      while (j < s.length && s[j] !== c) {
        if (c === '"' && s[j] === '\\' && j + 1 < s.length) {
          v += s[j + 1];
          j += 2;
          continue;
        }
        v += s[j];
        j++;
      }
      if (j >= s.length) return null;
      parts.push(v);
      i = j + 1;
    } else {
      const m = /^[A-Za-z0-9_-]+/.exec(s.slice(i));
      if (!m) return null;
      parts.push(m[0]);
      i += m[0].length;
    }
    while (s[i] === ' ' || s[i] === '\t') i++;
    if (i >= s.length) break;
    if (s[i] !== '.') return null;
    i++;
  }
  return parts.length > 0 ? parts : null;
}

/** The position of an unquoted `=` that ends a key on this line, or -1. */
function assignmentAt(line: string): number {
  let q: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q) {
      if (c === '\\' && q === '"') i++;
      else if (c === q) q = null;
    } else if (c === '"' || c === "'") q = c;
    else if (c === '=') return i;
    else if (c === '#' || c === '[' || c === '{') return -1;
  }
  return -1;
}

export class Locator {
  private readonly lines = new Map<string, number>();

  constructor(text: string) {
    const counts = new Map<string, number>();
    let table: KeyPath = [];
    const src = text.split('\n');
    for (let n = 0; n < src.length; n++) {
      const line = src[n]!.replace(/^\uFEFF/, '');
      const t = line.trim();
      if (t === '' || t.startsWith('#')) continue;
      let m = /^\[\[(.*)\]\]\s*(#.*)?$/.exec(t);
      if (m) {
        const key = splitKey(m[1]!);
        if (!key) continue;
        const name = key.join('\0');
        const idx = counts.get(name) ?? 0;
        counts.set(name, idx + 1);
        table = [...key, idx];
        this.record(table, n + 1);
        continue;
      }
      m = /^\[([^\[].*)\]\s*(#.*)?$/.exec(t);
      if (m) {
        const key = splitKey(m[1]!);
        if (!key) continue;
        table = key;
        // [relays.x] also locates "relays" (an unknown table is reported by its first name).
        for (let k = 1; k <= key.length; k++) this.record(key.slice(0, k), n + 1);
        continue;
      }
      const eq = assignmentAt(line);
      if (eq < 0) continue;
      const key = splitKey(line.slice(0, eq));
      if (!key) continue;
      this.record([...table, ...key], n + 1);
    }
  }

  private record(path: KeyPath, line: number): void {
    const k = path.join('\0');
    if (!this.lines.has(k)) this.lines.set(k, line);
  }

  /** The line that set `path`, else the nearest enclosing table or key that has a line. */
  line(path: KeyPath): number | undefined {
    for (let n = path.length; n > 0; n--) {
      const l = this.lines.get(path.slice(0, n).join('\0'));
      if (l !== undefined) return l;
    }
    return undefined;
  }
}

/** `relay.gmail.url`, `route[2].relay`, `sender_table."a@b"`: how a key path is shown. */
export function showPath(path: KeyPath): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p + 1}]`;
    else out += (out ? '.' : '') + (/^[A-Za-z0-9_-]+$/.test(p) ? p : JSON.stringify(p));
  }
  return out;
}
