/**
 * config/file.ts — read and validate the TOML configuration file.
 *
 * Errors name the file, the line and the key, and exit 78 (EX_CONFIG). Unknown keys are errors
 * with a "did you mean" suggestion. See README.md "Configuration" and outbox.conf.example for
 * every key.
 */
import * as fs from 'node:fs';
import { parse, TomlError } from 'smol-toml';
import { EX_CONFIG, OutboxError } from '../sysexits.js';
import type { DeliveryMode } from '../cli/flags.js';
import type { DeliverySettings, ListenerSettings, RelaySettings, RouteRule } from './types.js';

/** Settings as they appear in the file (camelCase here, snake_case in TOML). */
export interface FileSettings {
  hostname?: string;
  domain?: string;
  spool?: string;
  delivery?: DeliveryMode;
  maxMessageSize?: number;
  orphanGraceSeconds?: number;
  lockStaleMs?: number;
  /** [relay.NAME] tables. */
  relays?: Record<string, RelaySettings>;
  /** Name of the relay used when no route matches (default: the only/first relay). */
  defaultRelay?: string;
  routes?: RouteRule[];
  deliverySettings?: DeliverySettings;
  listener?: ListenerSettings;
  /** /etc/aliases-format file. */
  aliasesFile?: string;
}

type Kind = 'string' | 'integer' | 'delivery';
const TOP_KEYS: Record<string, { key: keyof FileSettings; kind: Kind }> = {
  hostname: { key: 'hostname', kind: 'string' },
  domain: { key: 'domain', kind: 'string' },
  spool: { key: 'spool', kind: 'string' },
  delivery: { key: 'delivery', kind: 'delivery' },
  max_message_size: { key: 'maxMessageSize', kind: 'integer' },
  orphan_grace_seconds: { key: 'orphanGraceSeconds', kind: 'integer' },
  lock_stale_ms: { key: 'lockStaleMs', kind: 'integer' },
};

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
  for (const c of candidates) {
    const dist = editDistance(word, c);
    if (dist < bestD) {
      best = c;
      bestD = dist;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** The 1-based line of the first line in `text` that sets `key`, for error messages. */
export function lineOf(text: string, key: string): number | undefined {
  const lines = text.split('\n');
  const re = new RegExp(`^\\s*["']?${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}["']?\\s*=`);
  const i = lines.findIndex((l) => re.test(l));
  return i >= 0 ? i + 1 : undefined;
}

export function configError(file: string, text: string, key: string, message: string): OutboxError {
  const line = lineOf(text, key);
  return new OutboxError(EX_CONFIG, `${file}${line ? `:${line}` : ''}: ${key}: ${message}`);
}

export function readConfigFile(file: string): FileSettings {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new OutboxError(EX_CONFIG, `${file}: cannot read configuration: ${(e as Error).message}`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      throw new OutboxError(EX_CONFIG, `${file}:${e.line}: syntax error: ${e.message.split('\n')[0]}`);
    }
    throw new OutboxError(EX_CONFIG, `${file}: ${(e as Error).message}`);
  }
  const out: FileSettings = {};
  for (const [name, value] of Object.entries(doc)) {
    const spec = TOP_KEYS[name];
    if (!spec) {
      const s = suggest(name, Object.keys(TOP_KEYS));
      throw configError(file, text, name, `unknown key${s ? ` (did you mean "${s}"?)` : ''}`);
    }
    if (spec.kind === 'string') {
      if (typeof value !== 'string' || value === '') throw configError(file, text, name, 'must be a non-empty string');
      (out as Record<string, unknown>)[spec.key] = value;
    } else if (spec.kind === 'integer') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
        throw configError(file, text, name, 'must be a whole number >= 0');
      }
      (out as Record<string, unknown>)[spec.key] = value;
    } else {
      if (value !== 'background' && value !== 'queue' && value !== 'interactive') {
        throw configError(file, text, name, 'must be "background", "queue" or "interactive"');
      }
      out.delivery = value;
    }
  }
  return out;
}
