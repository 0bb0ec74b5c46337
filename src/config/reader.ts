/**
 * config/reader.ts — the notation of the file's values: checks one value against the form its
 * key's row names (config/keys.ts): a string, an absolute path, a domain, an address, a whole
 * number, a duration (duration.ts), one of some words, a list. Errors name the file, the line and
 * the key (`FILE:LINE: KEY: message`, OutboxError(EX_CONFIG, 78)), with a "did you mean" for an
 * unknown key or word. The sections are put together in config/file.ts and config/sections.ts.
 */
import { EX_CONFIG, OutboxError } from '../sysexits.js';
import { Locator, showPath, type KeyPath } from './locate.js';
import { isDomain, isMailbox } from '../message/address.js';
import { parseDuration } from '../duration.js';
import type { Row, Spec } from './keys.js';

/** Levenshtein distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const w = word.toLowerCase().replace(/-/g, '_');
  for (const c of candidates) {
    const dist = editDistance(w, c);
    if (dist < bestD) {
      best = c;
      bestD = dist;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** Error for a key of a file: `FILE:LINE: KEY: message`, exit 78. */
export function configError(file: string, text: string | Locator, key: string | KeyPath, message: string): OutboxError {
  const loc = typeof text === 'string' ? new Locator(text) : text;
  const p = typeof key === 'string' ? [key] : key;
  const line = loc.line(p);
  return new OutboxError(EX_CONFIG, `${file}${line ? `:${line}` : ''}: ${showPath(p)}: ${message}`);
}

/** A duration in the file: a TOML number of seconds (30, 0.5) or a string (duration.ts). */
function durationValue(v: unknown): number | null {
  return typeof v === 'number' || typeof v === 'string' ? parseDuration(String(v)) : null;
}

export class Reader {
  private locator: Locator | undefined;
  constructor(
    readonly file: string,
    readonly text: string,
  ) {}

  /** Built on first use (errors, and the line of each relay and route): not on every parse. */
  get loc(): Locator {
    return (this.locator ??= new Locator(this.text));
  }

  fail(path: KeyPath, message: string): never {
    throw configError(this.file, this.loc, path, message);
  }

  unknown(path: KeyPath, name: string, known: string[]): never {
    const s = suggest(name, known);
    this.fail([...path, name], `unknown key${s ? ` (did you mean "${s}"?)` : ''}`);
  }

  table(path: KeyPath, v: unknown): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Date) {
      this.fail(path, `must be a table ([${showPath(path)}] followed by key = value lines)`);
    }
    return v as Record<string, unknown>;
  }

  value(path: KeyPath, spec: Spec, v: unknown): unknown {
    switch (spec.kind) {
      case 'string':
      case 'path':
        if (typeof v !== 'string' || v === '') this.fail(path, 'must be a non-empty string');
        if (/[\x00\r\n]/.test(v)) this.fail(path, 'may not hold a line break or NUL');
        if (spec.kind === 'path' && !v.startsWith('/')) this.fail(path, `must be an absolute path (starting with /), not "${v}"`);
        return v;
      case 'domain':
        if (typeof v !== 'string' || !isDomain(v)) this.fail(path, `must be a domain name, not ${JSON.stringify(v)}`);
        return v.replace(/\.$/, '');
      case 'address':
        if (typeof v !== 'string' || !isMailbox(v)) this.fail(path, `must be an address user@domain, not ${JSON.stringify(v)}`);
        return v;
      case 'integer': {
        const min = spec.min ?? 0;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.fail(path, `must be a whole number >= ${min}`);
        return v;
      }
      case 'number':
        if (typeof v !== 'number' || !(v >= spec.min && v <= spec.max)) this.fail(path, `must be a number from ${spec.min} to ${spec.max}`);
        return v;
      case 'duration': {
        const d = durationValue(v);
        if (d === null) this.fail(path, `must be a duration: seconds (30) or a string like "30s", "5m", "1h30m", "2d", not ${JSON.stringify(v)}`);
        return d;
      }
      case 'durations': {
        const list = Array.isArray(v) ? v : [v];
        if (list.length === 0) this.fail(path, 'must list at least one duration');
        return list.map((x) => {
          const d = durationValue(x);
          if (d === null || d === 0) this.fail(path, `must be a list of durations like ["5m", "30m", "2h"], not ${JSON.stringify(x)}`);
          return d;
        });
      }
      case 'boolean':
        if (typeof v !== 'boolean') this.fail(path, `must be true or false, not ${JSON.stringify(v)}`);
        return v;
      case 'enum':
        if (typeof v !== 'string' || !spec.values.includes(v)) {
          const s = typeof v === 'string' ? suggest(v, spec.values) : undefined;
          this.fail(path, `must be one of ${spec.values.map((x) => `"${x}"`).join(', ')}${s ? ` (did you mean "${s}"?)` : ''}`);
        }
        return v;
      case 'strings': {
        const list = Array.isArray(v) ? v : [v];
        return list.map((x) => {
          if (typeof x !== 'string' || x === '') this.fail(path, 'must be a string or a list of strings');
          switch (spec.item) {
            case 'domain':
              if (!isDomain(x)) this.fail(path, `"${x}" is not a domain name`);
              return x.toLowerCase().replace(/\.$/, '');
            case 'domainpattern': {
              const d = x.startsWith('.') ? x.slice(1) : x;
              if (!isDomain(d)) this.fail(path, `"${x}" is not a domain ("example.com") or subdomain pattern (".example.com")`);
              return x.toLowerCase().replace(/\.$/, '');
            }
            case 'senderpattern': {
              const ok = x.startsWith('@') ? isDomain(x.slice(1)) : x.includes('@') ? isMailbox(x) : isDomain(x.replace(/^\./, ''));
              if (!ok) this.fail(path, `"${x}" is not an address, "@domain", "domain" or ".domain"`);
              return x.includes('@') && !x.startsWith('@') ? x : x.toLowerCase();
            }
            case 'hostport':
              if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(x)) this.fail(path, `"${x}" is not host:port (e.g. "127.0.0.1:10587", "[::1]:10587")`);
              return x;
            case 'fingerprint':
              // Checked and normalised by readRelay (config/file.ts), with the relay URL grammar.
              return x;
            default:
              if (/[\x00\r\n]/.test(x)) this.fail(path, 'may not hold a line break or NUL');
              return x;
          }
        });
      }
    }
  }

  section<T>(path: KeyPath, v: unknown, rows: Record<string, Row>): T {
    const t = this.table(path, v);
    const out: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(t)) {
      const r = rows[name];
      if (!r) this.unknown(path, name, Object.keys(rows));
      out[r.key] = this.value([...path, name], r.spec, value);
    }
    return out as T;
  }
}
