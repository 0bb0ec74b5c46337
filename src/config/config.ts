/**
 * config/config.ts — where Outbox keeps things, and the settings every mode needs.
 *
 * Resolution (first that applies):
 *   1. `-C FILE`, else `$OUTBOX_CONFIG`: that file must exist (else EX_CONFIG, 78).
 *   2. `/etc/outbox/outbox.conf` if it exists: system-wide mode, spool `/var/spool/outbox`.
 *   3. root without a system config: system-wide defaults, spool `/var/spool/outbox`.
 *   4. anyone else: a per-user spool under `$XDG_STATE_HOME/outbox` (default
 *      `~/.local/state/outbox`), and `$XDG_CONFIG_HOME/outbox/outbox.conf` if it exists.
 * `$OUTBOX_SPOOL` overrides the spool directory in every case.
 *
 * The file is TOML. The loader that validates every key lives in config/file.ts; this module only
 * resolves locations and applies defaults, so that the submit path stays small.
 * Throws OutboxError(EX_CONFIG).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EX_CONFIG, OutboxError } from '../sysexits.js';
import type { DeliveryMode } from '../cli/flags.js';
import { readConfigFile, type FileSettings } from './file.js';

export const SYSTEM_CONFIG = '/etc/outbox/outbox.conf';
export const SYSTEM_SPOOL = '/var/spool/outbox';

export interface Config extends FileSettings {
  /** The file the settings came from, or null for built-in defaults. */
  file: string | null;
  /** true: the system-wide spool; false: a per-user spool. */
  system: boolean;
  spool: string;
  hostname: string;
  domain: string;
  delivery: DeliveryMode;
  /** Largest message accepted, in bytes; 0 = no limit. */
  maxMessageSize: number;
  /** Seconds after which a temp file or an uncommitted message body is swept. */
  orphanGraceSeconds: number;
  /** Milliseconds after which a lock whose holder stopped refreshing it is taken over. */
  lockStaleMs: number;
}

export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  home?: string;
}

/** A user's private spool: `$XDG_STATE_HOME/outbox`, default `~/.local/state/outbox`. */
export function userSpoolDir(env: NodeJS.ProcessEnv, home?: string): string {
  return path.join(env.XDG_STATE_HOME || path.join(home ?? env.HOME ?? os.homedir(), '.local', 'state'), 'outbox');
}

function defaultHostname(): string {
  const h = os.hostname();
  return h || 'localhost';
}

export function loadConfig(src: ConfigSources = {}): Config {
  const env = src.env ?? process.env;
  const uid = src.uid ?? (process.getuid ? process.getuid() : 0);
  let file: string | null = src.file ?? env.OUTBOX_CONFIG ?? null;
  let system = true;
  let spool = SYSTEM_SPOOL;
  if (file) {
    if (!fs.existsSync(file)) throw new OutboxError(EX_CONFIG, `${file}: configuration file not found`);
  } else if (fs.existsSync(SYSTEM_CONFIG)) {
    file = SYSTEM_CONFIG;
  } else if (uid !== 0) {
    system = false;
    const home = src.home ?? env.HOME ?? os.homedir();
    spool = userSpoolDir(env, home);
    const userConf = path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'outbox', 'outbox.conf');
    if (fs.existsSync(userConf)) file = userConf;
  }
  const settings = file ? readConfigFile(file) : ({} as Partial<FileSettings>);
  const hostname = settings.hostname ?? defaultHostname();
  const config: Config = {
    ...(settings as FileSettings),
    file,
    system: settings.spool !== undefined ? settings.spool === SYSTEM_SPOOL || system : system,
    spool: env.OUTBOX_SPOOL || settings.spool || spool,
    hostname,
    domain: settings.domain ?? hostname,
    delivery: settings.delivery ?? 'background',
    maxMessageSize: settings.maxMessageSize ?? 0,
    orphanGraceSeconds: settings.orphanGraceSeconds ?? 3600,
    lockStaleMs: settings.lockStaleMs ?? 30_000,
  };
  return config;
}
