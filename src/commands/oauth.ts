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
import { parseForm, subcommand, value } from '../cli/args.js';
import { EX_CONFIG, EX_OK, EX_TEMPFAIL, OutboxError } from '../sysexits.js';
import { dropToSpoolOwner } from '../spool/privileges.js';
import { login, OAuthError, tokenState } from '../config/oauth.js';
import type { RelaySettings } from '../config/types.js';

export async function command(args: string[], io: Io): Promise<number> {
  const { form, rest } = subcommand('oauth', args);
  const p = parseForm(form, rest);
  const importFile = value(p, 'import');
  const names = p.operands;
  const config = loadConfig({ file: p.configFile });
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
  if (form === 'oauth status') {
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
