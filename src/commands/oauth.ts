/**
 * commands/oauth.ts — `outbox oauth login [-C FILE] [--import FILE] RELAY` and
 * `outbox oauth status [-C FILE] [RELAY...]`: sign a relay's account in for the built-in OAuth
 * client (config/oauth.ts) and show the state of its tokens (never the tokens).
 *
 * Run as root on the system spool, the command first becomes the spool's owner (the user that
 * delivers), so the token file belongs to the process that refreshes it.
 * Exit: 0 signed in / every relay's tokens usable; 64 usage; 78 no such relay, no [oauth] table,
 * or the provider refused; 75 the token endpoint could not be reached.
 */
import type { Io } from '../io.js';
import { loadConfig } from '../config/config.js';
import { takeConfigFlag } from '../config/config-flag.js';
import { EX_CONFIG, EX_OK, EX_TEMPFAIL, EX_USAGE, OutboxError } from '../sysexits.js';
import { dropToSpoolOwner } from '../spool/privileges.js';
import { login, OAuthError, tokenState } from '../config/oauth.js';
import type { RelaySettings } from '../config/types.js';
import { usageLine } from '../cli/usage.js';

const USAGE = usageLine('oauth');

export async function command(args: string[], io: Io): Promise<number> {
  const { configFile, rest } = takeConfigFlag(args);
  const [sub, ...more] = rest;
  if (sub === '--help' || sub === '-h') {
    io.stdout.write(`${USAGE}\n`);
    return EX_OK;
  }
  let importFile: string | undefined;
  const names: string[] = [];
  for (let i = 0; i < more.length; i++) {
    const a = more[i]!;
    if (a === '--import' && i + 1 < more.length) importFile = more[++i];
    else if (a.startsWith('--import=')) importFile = a.slice('--import='.length);
    else if (a.startsWith('-')) throw new OutboxError(EX_USAGE, `oauth: unknown option ${JSON.stringify(a)} (${USAGE})`);
    else names.push(a);
  }
  if ((sub !== 'login' && sub !== 'status') || (sub === 'login' && names.length !== 1)) throw new OutboxError(EX_USAGE, `oauth: ${USAGE}`);
  const config = loadConfig({ file: configFile });
  const all = Object.values(config.relays ?? {}).filter((r) => r.oauth);
  const pick = (n: string): RelaySettings => {
    const r = config.relays?.[n];
    if (!r)
      throw new OutboxError(
        EX_CONFIG,
        `oauth: no relay named "${n}"${all.length ? ` (relays with an [oauth] table: ${all.map((x) => x.name).join(', ')})` : ''}`,
      );
    if (!r.oauth) throw new OutboxError(EX_CONFIG, `oauth: relay "${n}" has no [relay.${n}.oauth] table`);
    return r;
  };
  const relays = names.length ? names.map(pick) : all;
  dropToSpoolOwner(config);
  const ctx = { configFile: config.file, env: process.env };
  if (sub === 'status') {
    let bad = 0;
    for (const r of relays) {
      const st = tokenState(r);
      if (!st.ok) bad++;
      io.stdout.write(`relay ${r.name}: ${st.text}\n`);
    }
    return bad ? EX_CONFIG : EX_OK;
  }
  try {
    await login(
      relays[0]!,
      ctx,
      { out: (t) => io.stdout.write(t), sleep: (ms) => new Promise((res) => setTimeout(res, ms)) },
      importFile ? { importFile } : {},
    );
  } catch (e) {
    if (e instanceof OAuthError) throw new OutboxError(e.code === 'ETOKENTEMP' ? EX_TEMPFAIL : EX_CONFIG, e.message);
    throw e;
  }
  return EX_OK;
}
