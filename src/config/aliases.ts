/**
 * config/aliases.ts — the /etc/aliases file, and what a recipient address becomes at submission.
 *
 * File format (sendmail's aliases(5), as Debian ships it):
 *     # comment
 *     postmaster: root
 *     root: admin@example.com, ops@example.com
 *     team: alice,
 *           bob          <- a line starting with space or tab continues the previous entry
 *     olduser: error:nouser This person has left; write to office@example.com
 *     \name                <- as a target: this local name, not aliased further
 * Names compare case-insensitively. Targets are addresses or local names (expanded again, up to
 * MAX_DEPTH levels, loops detected). `error:CODE text` refuses the address with that text
 * (CODE: nouser, unavailable, tempfail, or an SMTP code like 5.1.1:550). Pipes (`|cmd`), files
 * (`/path`) and `:include:` are refused with a clear message: a null client delivers nothing
 * locally.
 *
 * Local addresses: a bare name (`root`), `name@<hostname>`, `name@localhost` and
 * `name@<local_domains>`. They are aliased, then qualified with `domain`.
 *
 * parseAliases() is pure; aliasTable() reads the file once per process. expandRecipient() is
 * the hook submission calls for every recipient (src/submit/submit.ts). Throws
 * OutboxError(EX_CONFIG) only when a configured aliases file cannot be read.
 */
import * as fs from 'node:fs';
import { EX_CONFIG, EX_NOUSER, EX_TEMPFAIL, EX_UNAVAILABLE, OutboxError } from '../sysexits.js';
import { checkAddress, splitAddress } from '../message/address.js';
import type { Config } from './config.js';

export const DEFAULT_ALIASES = '/etc/aliases';
export const MAX_DEPTH = 16;

export type AliasTarget =
  | { kind: 'address'; value: string }
  /** \name: this local name, not aliased further */
  | { kind: 'local'; value: string }
  | { kind: 'error'; code: string; text: string }
  | { kind: 'refused'; what: 'pipe' | 'file' | 'include'; value: string };

export interface AliasEntry {
  name: string;
  line: number;
  targets: AliasTarget[];
}

export interface AliasProblem {
  line: number;
  message: string;
}

export interface AliasTable {
  file: string;
  entries: Map<string, AliasEntry>;
  problems: AliasProblem[];
}

/** Split an alias right-hand side at commas outside double quotes. */
function splitTargets(rhs: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < rhs.length; i++) {
    const c = rhs[i]!;
    if (c === '\\' && q && i + 1 < rhs.length) {
      cur += c + rhs[++i];
      continue;
    }
    if (c === '"') q = !q;
    if (c === ',' && !q) {
      out.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  out.push(cur.trim());
  return out;
}

const REFUSED_HOW = {
  pipe: 'pipes to commands are not supported',
  file: 'delivery to files is not supported',
  include: ':include: files are not supported',
};

export function refusedMessage(t: { what: 'pipe' | 'file' | 'include'; value: string }): string {
  return `"${t.value}": ${REFUSED_HOW[t.what]} (Outbox is a null client and delivers nothing locally; point the alias at a mail address)`;
}

function parseTarget(raw: string): AliasTarget | { problem: string } {
  let t = raw;
  // A whole target in quotes ("|cmd args", "a@b"): the quotes only protect spaces and commas.
  if (t.startsWith('"') && t.endsWith('"') && t.length >= 2 && (t[1] === '|' || t[1] === '/' || t.indexOf('@') > 0)) t = t.slice(1, -1);
  if (t === '') return { problem: 'empty target (two commas in a row, or a trailing comma)' };
  if (t.startsWith('|')) return { kind: 'refused', what: 'pipe', value: t };
  if (t.startsWith('/')) return { kind: 'refused', what: 'file', value: t };
  if (t.toLowerCase().startsWith(':include:')) return { kind: 'refused', what: 'include', value: t };
  if (t.startsWith('\\')) {
    const name = t.slice(1);
    if (!/^[^\s@,]+$/.test(name)) return { problem: `"${t}" is not a local name` };
    return { kind: 'local', value: name };
  }
  const c = checkAddress(t, 'localhost');
  if (!c.ok || /\s/.test(t)) return { problem: `"${t}" is not an address or local name` };
  return { kind: 'address', value: t };
}

/** Parse aliases(5) text. Pure; never throws: problems are returned with their line. */
export function parseAliases(text: string, file = DEFAULT_ALIASES): AliasTable {
  const entries = new Map<string, AliasEntry>();
  const problems: AliasProblem[] = [];
  // Join continuation lines first, remembering where each logical line started.
  const logical: { line: number; text: string }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.replace(/\r$/, '');
    if (/^\s*#/.test(l) || l.trim() === '') {
      // A comment or blank line ends an entry (sendmail: continuation lines follow directly).
      logical.push({ line: i + 1, text: '' });
      continue;
    }
    if ((l.startsWith(' ') || l.startsWith('\t')) && logical.length > 0 && logical[logical.length - 1]!.text !== '') {
      logical[logical.length - 1]!.text += ' ' + l.trim();
      continue;
    }
    logical.push({ line: i + 1, text: l });
  }
  for (const { line, text: l } of logical) {
    if (l === '') continue;
    if (l.startsWith(' ') || l.startsWith('\t')) {
      problems.push({ line, message: 'continuation line without an entry before it' });
      continue;
    }
    const colon = l.indexOf(':');
    if (colon <= 0) {
      problems.push({ line, message: `expected "name: target, ..." but found ${JSON.stringify(l.slice(0, 60))}` });
      continue;
    }
    const name = l.slice(0, colon).trim();
    const rhs = l.slice(colon + 1).trim();
    if (!/^[^\s@:,"]+$/.test(name)) {
      problems.push({ line, message: `"${name}" is not a valid alias name (no spaces, "@", ":" or ",")` });
      continue;
    }
    const key = name.toLowerCase();
    if (entries.has(key)) {
      problems.push({ line, message: `duplicate alias "${name}" (first defined on line ${entries.get(key)!.line}; this one is ignored)` });
      continue;
    }
    if (rhs === '') {
      problems.push({ line, message: `alias "${name}" has no target` });
      continue;
    }
    const targets: AliasTarget[] = [];
    if (/^error:/i.test(rhs)) {
      const m = /^error:\s*([^\s]+)\s*(.*)$/i.exec(rhs);
      targets.push({ kind: 'error', code: m?.[1] ?? 'nouser', text: (m?.[2] ?? '').trim() || 'address refused' });
    } else {
      let bad = false;
      for (const piece of splitTargets(rhs)) {
        const t = parseTarget(piece);
        if ('problem' in t) {
          problems.push({ line, message: `alias "${name}": ${t.problem}` });
          bad = true;
          continue;
        }
        if (t.kind === 'refused') problems.push({ line, message: `alias "${name}": ${refusedMessage(t)}` });
        targets.push(t);
      }
      if (bad && targets.length === 0) continue;
    }
    entries.set(key, { name, line, targets });
  }
  return { file, entries, problems };
}

const cache = new Map<string, AliasTable | null>();

/**
 * The aliases file of this configuration, read once per process. The default file
 * (/etc/aliases) may be missing; a file named by `aliases = ...` must be readable (EX_CONFIG).
 */
export function aliasTable(config: Pick<Config, 'aliasesFile'>): AliasTable | null {
  const file = config.aliasesFile ?? DEFAULT_ALIASES;
  if (cache.has(file)) return cache.get(file)!;
  let table: AliasTable | null = null;
  try {
    table = parseAliases(fs.readFileSync(file, 'utf8'), file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (config.aliasesFile !== undefined || (code !== 'ENOENT' && code !== 'ENOTDIR')) {
      throw new OutboxError(EX_CONFIG, `${file}: cannot read the aliases file: ${(e as Error).message}`);
    }
  }
  cache.set(file, table);
  return table;
}

/** The domains that mean "this host" (lower case). */
export function localDomainsOf(config: Pick<Config, 'hostname' | 'localDomains'>): string[] {
  const set = new Set([config.hostname.toLowerCase(), 'localhost', 'localhost.localdomain', ...(config.localDomains ?? [])]);
  return [...set];
}

/** The local name of an address that stays on this host (bare, @hostname, @localhost, ...), else null. */
export function localName(config: Pick<Config, 'hostname' | 'localDomains'>, address: string): string | null {
  const { local, domain } = splitAddress(address);
  if (domain === null) return local;
  return localDomainsOf(config).includes(domain.toLowerCase().replace(/\.$/, '')) ? local : null;
}

const ERROR_CODES: Record<string, number> = { nouser: EX_NOUSER, unavailable: EX_UNAVAILABLE, tempfail: EX_TEMPFAIL };

/** Exit status for an `error:CODE` entry: nouser 67, unavailable 69, tempfail and 4xx 75, else 67. */
export function aliasErrorExit(code: string): number {
  const c = code.toLowerCase();
  if (ERROR_CODES[c] !== undefined) return ERROR_CODES[c]!;
  if (/(^|:)4\d\d$/.test(c) || /^4\./.test(c)) return EX_TEMPFAIL;
  return EX_NOUSER;
}

export type Expansion = { addresses: string[]; trace: string[] } | { error: string; exitCode: number; trace: string[] };

/**
 * What one recipient becomes: aliases applied (recursively) to local addresses, local names
 * qualified with `domain`, other addresses checked and kept. `trace` says what happened, step
 * by step (for sendmail -bv). Pure apart from reading the aliases file once (aliasTable()).
 */
export function expandRecipientTraced(config: Config, address: string, table: AliasTable | null = aliasTable(config)): Expansion {
  const trace: string[] = [];
  const out: string[] = [];
  const seen = new Set<string>();
  const c0 = checkAddress(address, config.domain);
  if (!c0.ok) return { error: c0.error, exitCode: 65, trace };
  const walk = (addr: string, depth: number, noAlias: boolean, chain: string[]): { error: string; exitCode: number } | null => {
    const name = localName(config, addr);
    if (name === null) {
      const c = checkAddress(addr, config.domain);
      if (!c.ok) return { error: c.error, exitCode: 65 };
      if (!seen.has(c.address.toLowerCase())) {
        seen.add(c.address.toLowerCase());
        out.push(c.address);
      }
      return null;
    }
    const entry = noAlias ? undefined : table?.entries.get(name.toLowerCase());
    if (!entry || chain.includes(name.toLowerCase())) {
      const q = `${name}@${config.domain}`;
      if (depth > 0 || addr !== q) trace.push(`${addr}: local name, qualified as ${q}`);
      const c = checkAddress(q, config.domain);
      if (!c.ok) return { error: c.error, exitCode: 65 };
      if (!seen.has(c.address.toLowerCase())) {
        seen.add(c.address.toLowerCase());
        out.push(c.address);
      }
      return null;
    }
    if (depth >= MAX_DEPTH)
      return { error: `${addr}: aliases nested more than ${MAX_DEPTH} deep (a loop?) at ${table!.file}:${entry.line}`, exitCode: EX_CONFIG };
    const where = `${table!.file}:${entry.line}`;
    for (const t of entry.targets) {
      if (t.kind === 'error') {
        trace.push(`${addr}: alias "${entry.name}" (${where}) refuses it: error:${t.code} ${t.text}`);
        return { error: `${addr}: ${t.text}`, exitCode: aliasErrorExit(t.code) };
      }
      if (t.kind === 'refused') {
        return { error: `${addr}: alias "${entry.name}" (${where}): ${refusedMessage(t)}`, exitCode: EX_CONFIG };
      }
    }
    trace.push(
      `${addr}: alias "${entry.name}" (${where}) -> ${entry.targets.map((t) => (t.kind === 'local' ? '\\' : '') + (t as { value: string }).value).join(', ')}`,
    );
    for (const t of entry.targets) {
      if (t.kind !== 'address' && t.kind !== 'local') continue;
      const r = walk(t.value, depth + 1, t.kind === 'local', [...chain, name.toLowerCase()]);
      if (r) return r;
    }
    return null;
  };
  const err = walk(address.trim(), 0, false, []);
  if (err) return { ...err, trace };
  return { addresses: out, trace };
}

/**
 * The submission hook: one recipient as given (argument, -t header, RCPT TO) -> the addresses
 * to queue, or why it is refused (with the exit status: 65 bad address, 67 error:nouser, ...).
 */
export function expandRecipient(config: Config, address: string): { addresses: string[] } | { error: string; exitCode: number } {
  const localHere = localName(config, address.trim()) !== null;
  // Fast path: a remote address never touches the aliases file.
  const r = expandRecipientTraced(config, address, localHere ? aliasTable(config) : null);
  return 'error' in r ? { error: r.error, exitCode: r.exitCode } : { addresses: r.addresses };
}
