/**
 * commands/newaliases.ts — `newaliases` (sendmail -bi) and `sendmail -bv ADDRESS...`.
 *
 * newaliases: Outbox reads the aliases text file directly (no .db to rebuild), so newaliases
 * validates it: every problem is printed as FILE:LINE: message on stderr; a summary line goes to
 * stdout. Exit 0 when the file is clean (or the default /etc/aliases does not exist), 78
 * (EX_CONFIG) when it has problems or a configured file cannot be read.
 *
 * -bv: for each address, without sending anything, print what would happen: alias expansion,
 * qualification, the route and relay, and how the sender would be rewritten. Exit 0 when every
 * address is deliverable (or held by a hold route), else the status of the first refusal (65 bad
 * address, 67 error:nouser, 78 a pipe/file alias or no relay configured, ...): mail to a relay
 * that is not configured cannot be delivered, whatever else is right. Never prints a secret (relay URLs hold
 * no password, see config/file.ts). Ends with the domain and its source (config/domain.ts).
 */
import { EX_CONFIG, EX_OK, OutboxError } from '../sysexits.js';
import type { Io } from '../io.js';
import type { Config } from '../config/config.js';
import { aliasTable, DEFAULT_ALIASES, expandRecipientTraced, parseAliases } from '../config/aliases.js';
import { explainRoute } from '../plan/routing.js';
import { rewriteSender, senderEntryFor } from '../plan/rewrite.js';
import { checkRelayUrl } from '../relay/url.js';
import { domainReport } from '../config/domain.js';
import { NO_RELAY_FIX, relaysFor } from '../relay/env.js';
import * as fs from 'node:fs';

export async function newaliases(config: Config, io: Io): Promise<number> {
  const file = config.aliasesFile ?? DEFAULT_ALIASES;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (config.aliasesFile === undefined && code === 'ENOENT') {
      io.stdout.write(`newaliases: ${file} does not exist: no aliases (set aliases = "/path" in the configuration to use another file)\n`);
      return EX_OK;
    }
    throw new OutboxError(EX_CONFIG, `${file}: cannot read the aliases file: ${(e as Error).message}`);
  }
  const t = parseAliases(text, file);
  for (const p of t.problems) io.stderr.write(`newaliases: ${file}:${p.line}: ${p.message}\n`);
  const n = t.entries.size;
  io.stdout.write(`newaliases: ${file}: ${n} alias${n === 1 ? '' : 'es'}, ${t.problems.length} problem${t.problems.length === 1 ? '' : 's'}\n`);
  return t.problems.length > 0 ? EX_CONFIG : EX_OK;
}

/** host:port of a relay, for display (never user or secret). */
export function relayDisplay(config: Config, name: string, env: NodeJS.ProcessEnv = process.env): string {
  const url = name === 'env' ? env.OUTBOX_RELAY : config.relays?.[name]?.url;
  if (!url) return name === 'env' ? 'OUTBOX_RELAY is not set: no relay configured' : 'unknown relay';
  const u = checkRelayUrl(url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1@'));
  if ('error' in u) return 'invalid URL';
  return `${u.scheme}://${u.host.includes(':') ? `[${u.host}]` : u.host}:${u.port}`;
}

export async function verifyAddresses(addresses: string[], fileConfig: Config, io: Io): Promise<number> {
  const { currentUser } = await import('../passwd.js');
  // The relays as the runner sees them (OUTBOX_RELAY merged in), so routes and rewrites match.
  const config = process.env.OUTBOX_RELAY?.trim() ? relaysFor(fileConfig) : fileConfig;
  const sender = `${currentUser().name}@${config.domain}`;
  let status = EX_OK;
  const table = aliasTable(config);
  for (const raw of addresses) {
    const r = expandRecipientTraced(config, raw, table);
    for (const line of r.trace) io.stdout.write(`${line}\n`);
    if ('error' in r) {
      io.stdout.write(`${raw}... refused: ${r.error}\n`);
      if (status === EX_OK) status = r.exitCode;
      continue;
    }
    for (const a of r.addresses) {
      const ex = explainRoute(config, sender, a, sender);
      if ('hold' in ex.route) {
        io.stdout.write(`${a}... held: ${ex.why}\n`);
        continue;
      }
      const relay = ex.route.relay;
      const configured = relay === 'env' ? Boolean(process.env.OUTBOX_RELAY) || config.relays?.env !== undefined : config.relays?.[relay] !== undefined;
      if (!configured) {
        const fix = relay === 'env' ? NO_RELAY_FIX : `add a [relay.${relay}] table to the configuration file`;
        io.stdout.write(`${a}... not deliverable: relay ${relay} (${relayDisplay(config, relay)}); ${ex.why}; fix: ${fix}\n`);
        if (status === EX_OK) status = EX_CONFIG;
        continue;
      }
      io.stdout.write(`${a}... deliverable: relay ${relay} (${relayDisplay(config, relay)}); ${ex.why}\n`);
      const fb = config.relays?.[relay]?.fallbacks;
      if (fb && fb.length > 0) io.stdout.write(`    fallbacks: ${fb.join(', ')}\n`);
      const rw = rewriteSender(config, relay, sender, `From: ${sender}\n`, senderEntryFor(config, a));
      for (const x of rw.rewrites) io.stdout.write(`    ${x}\n`);
      if (rw.rewrites.length === 0) io.stdout.write(`    sender ${sender} sent unchanged\n`);
    }
  }
  // Where the domain of the sender (and of bare names) came from, and a warning if it cannot work.
  for (const line of domainReport(config, Object.values(config.relays ?? {}))) io.stdout.write(`${line}\n`);
  return status;
}
