/**
 * runner/config-tag.ts — a fingerprint of everything a configuration problem can be fixed in:
 * the settings, the configuration file, the files it names (passwords, CA, client
 * certificate, aliases), /etc/mailname and the OUTBOX_* environment.
 *
 * A message held for a configuration problem (classify.ts: wrong password, refused sender, bad
 * certificate) records the tag of the configuration that failed (ControlRecord.configTag). When
 * the tag of the current configuration differs, the fix may have happened: the message is due
 * at once, with no manual release (engine.ts isDue()). The daemon also compares tags on every
 * scan to notice a changed file and reload (daemon.ts).
 *
 * Only stat(2) calls and a hash: cheap enough for every scan. Never throws.
 */
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import type { Config } from '../config/config.js';

function stamp(file: string | undefined | null): string {
  if (!file) return '-';
  try {
    const st = fs.statSync(file);
    return `${st.ino}:${st.size}:${st.mtimeMs}:${st.mode}:${st.uid}:${st.gid}`;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'error';
  }
}

/** The files whose content can fix a configuration problem. */
export function configFiles(config: Config): string[] {
  const files = [config.file ?? '', '/etc/mailname', config.aliasesFile ?? '/etc/aliases'];
  for (const r of Object.values(config.relays ?? {})) files.push(r.passwordFile ?? '', r.caFile ?? '', r.clientCert ?? '', r.clientKey ?? '');
  return files.filter((f) => f !== '');
}

/** The fingerprint (16 hex digits) of `config` as loaded, its files and the OUTBOX_* variables. */
export function configTag(config: Config, env: NodeJS.ProcessEnv): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(config));
  for (const f of configFiles(config)) h.update(`\0${f}=${stamp(f)}`);
  for (const k of Object.keys(env)
    .filter((x) => x.startsWith('OUTBOX_'))
    .sort())
    h.update(`\0${k}=${env[k]}`);
  return h.digest('hex').slice(0, 16);
}
