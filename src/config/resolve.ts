/**
 * config/resolve.ts — where Outbox keeps things, and the settings every mode needs.
 *
 * Resolution (first that applies):
 *   1. `-C FILE`, else `$OUTBOX_CONFIG`: that file must exist (else EX_CONFIG, 78).
 *   2. `/etc/outbox/outbox.conf` if it exists: system-wide mode, spool `/var/spool/outbox`.
 *   3. root without a system config: system-wide defaults, spool `/var/spool/outbox`.
 *   4. anyone else: a per-user spool under `$XDG_STATE_HOME/outbox` (default
 *      `~/.local/state/outbox`), and `$XDG_CONFIG_HOME/outbox/outbox.conf` if it exists.
 * `$OUTBOX_SPOOL` overrides the spool directory in every case.
 * The mail domain: config/domain.ts (OUTBOX_DOMAIN, `domain`, /etc/mailname, the FQDN, the host
 * name). Other OUTBOX_* variables are read where they are used (relay/relay.ts for the relay).
 * A uid with no usable home (no passwd entry and no $HOME, as `docker run --user 12345`, or a
 * $HOME it cannot write, such as `/` under OpenShift) has no per-user spool: EX_CONFIG with one
 * line that names OUTBOX_SPOOL (userSpoolProblem). An installed system (/etc/outbox) is unaffected.
 *
 * The file is TOML. The loader that validates every key lives in config/file.ts; this module only
 * resolves locations and applies defaults, and does not import it: config/config.ts's loadConfig
 * (every mode but a submission) reads the file with it; loadConfigLazily (a submission) loads it
 * only when there is a file to read (the TOML parser and the key tables cost about 0.5 ms under
 * --jitless). Throws OutboxError(EX_CONFIG).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EX_CONFIG, OutboxError } from '../sysexits.js';
import type { DeliveryMode } from '../cli/flags.js';
import type { FileSettings } from './file.js';
import { chooseDomain } from './domain.js';

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
  /** Where `domain` came from (config/domain.ts), for `config check`, `check` and `-bv`. */
  domainSource?: string;
  /** Where undeliverable bounces go: OUTBOX_POSTMASTER, else `postmaster` in the file. */
  postmaster?: string;
  delivery: DeliveryMode;
  /** Largest message accepted, in bytes; 0 = no limit. */
  maxMessageSize: number;
  /** Seconds after which a temp file or an uncommitted message body is swept. */
  orphanGraceSeconds: number;
  /** Milliseconds after which a lock whose holder stopped refreshing it is taken over. */
  lockStaleMs: number;
}

export interface ConfigSources {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  home?: string;
}

/** A user's private spool: `$XDG_STATE_HOME/outbox`, default `~/.local/state/outbox`; '' without a home. */
export function userSpoolDir(env: NodeJS.ProcessEnv, home: string = env.HOME || homeOf()): string {
  const state = env.XDG_STATE_HOME || (home && path.join(home, '.local', 'state'));
  return state ? path.join(state, 'outbox') : '';
}

function defaultHostname(): string {
  const h = os.hostname();
  return h || 'localhost';
}

/** The home directory from the passwd entry; '' when the uid has none. */
function homeOf(): string {
  try {
    return os.homedir();
  } catch {
    return '';
  }
}

/**
 * Why a per-user spool cannot be made here, in one line naming OUTBOX_SPOOL; null when it exists
 * or its nearest existing parent is writable (one stat on the usual path).
 */
export function userSpoolProblem(spool: string, uid: number, home: string): string | null {
  const fix = `set OUTBOX_SPOOL to a directory uid ${uid} can write (on a volume, so that queued mail survives a restart)`;
  if (!spool) return `no spool for uid ${uid}: it has no home directory (HOME is unset and there is no passwd entry); ${fix}`;
  for (let dir = spool; ; dir = path.dirname(dir)) {
    try {
      fs.statSync(dir);
    } catch {
      if (path.dirname(dir) === dir) break;
      continue;
    }
    if (dir === spool) return null;
    try {
      fs.accessSync(dir, fs.constants.W_OK);
      return null;
    } catch {
      return `no spool for uid ${uid}: ${spool} cannot be created (${dir} is not writable; HOME=${home || '(unset)'}); ${fix}`;
    }
  }
  return null;
}

/** Where the configuration comes from: the file (null: none), and the spool it implies. */
export interface ConfigLocation {
  file: string | null;
  system: boolean;
  spool: string;
  spoolProblem: string | null;
}

/** Find the configuration file (resolution above); no file is read. */
export function locateConfig(src: ConfigSources = {}): ConfigLocation {
  const env = src.env ?? process.env;
  const uid = src.uid ?? (process.getuid ? process.getuid() : 0);
  let file: string | null = src.file ?? env.OUTBOX_CONFIG ?? null;
  let system = true;
  let spool = SYSTEM_SPOOL;
  let spoolProblem: string | null = null;
  if (file) {
    if (!fs.existsSync(file)) throw new OutboxError(EX_CONFIG, `${file}: configuration file not found`);
  } else if (fs.existsSync(SYSTEM_CONFIG)) {
    file = SYSTEM_CONFIG;
  } else if (uid !== 0) {
    system = false;
    const home = src.home ?? (env.HOME || homeOf());
    spool = userSpoolDir(env, home);
    const configHome = env.XDG_CONFIG_HOME || (home && path.join(home, '.config'));
    const userConf = configHome ? path.join(configHome, 'outbox', 'outbox.conf') : '';
    if (userConf && fs.existsSync(userConf)) file = userConf;
    if (!env.OUTBOX_SPOOL) spoolProblem = userSpoolProblem(spool, uid, home);
  }
  return { file, system, spool, spoolProblem };
}

/** The settings from the located file (`settings`: what config/file.ts read from it), with defaults. */
export function settleConfig(src: ConfigSources, where: ConfigLocation, settings: Partial<FileSettings>): Config {
  const env = src.env ?? process.env;
  const { file, system, spool, spoolProblem } = where;
  // A user config that names its own spool settles it.
  if (spoolProblem && !settings.spool) throw new OutboxError(EX_CONFIG, spoolProblem);
  const hostname = settings.hostname ?? defaultHostname();
  const domain = chooseDomain({ env, fileDomain: settings.domain, file, hostname });
  const postmaster = env.OUTBOX_POSTMASTER?.trim() || settings.postmaster;
  const config: Config = {
    ...(settings as FileSettings),
    file,
    system: settings.spool !== undefined ? settings.spool === SYSTEM_SPOOL || system : system,
    spool: env.OUTBOX_SPOOL || settings.spool || spool,
    hostname,
    domain: domain.domain,
    domainSource: domain.source,
    ...(postmaster ? { postmaster } : {}),
    delivery: settings.delivery ?? 'background',
    maxMessageSize: settings.maxMessageSize ?? 0,
    orphanGraceSeconds: settings.orphanGraceSeconds ?? 3600,
    lockStaleMs: settings.lockStaleMs ?? 30_000,
  };
  // OAuth tokens live with the queue by default: written by the user that delivers the mail.
  for (const r of Object.values(config.relays ?? {})) {
    if (r.oauth && !r.oauth.tokenFile) r.oauth.tokenFile = path.join(config.spool, 'oauth', `${r.name}.json`);
  }
  return config;
}

/** loadConfig (config/config.ts) for a submission: config/file.ts is loaded only when there is a file. */
export async function loadConfigLazily(src: ConfigSources = {}): Promise<Config> {
  const where = locateConfig(src);
  const settings = where.file ? (await import('./file.js')).readConfigFile(where.file) : {};
  return settleConfig(src, where, settings);
}
