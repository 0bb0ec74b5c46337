/**
 * commands/check.ts — `outbox check [-C FILE] [--timeout SECONDS] [--ports LIST] [RELAY...]`
 * (`outbox check --queue ...` is the queue's monitoring check: commands/check-queue.ts):
 * why is mail not going out? For each configured relay (or the ones named), within bounded time:
 *   - TCP reachability of ports 587, 465 and 25 (and the relay's own port), in parallel; a port
 *     that does not answer is reported plainly as blocked ("port 25 blocked" is the everyday case);
 *   - the SMTP greeting and EHLO on the relay's URL; STARTTLS offered (smtp+starttls://), in a
 *     session opened by delivery's own code (relay/connect.ts);
 *   - the certificate: chain valid (system CAs + ca_file), host name, fingerprint pin, days
 *     until expiry, judged with delivery's own TLS options (relay/tls.ts): what delivery
 *     refuses is a FAIL here, a pin never excusing an unverified chain;
 *   - AUTH with the configured credentials (only over a verified TLS connection: a password is
 *     never sent to a server we could not authenticate);
 *   - what the relay offers: SIZE, PIPELINING, 8BITMIME, SMTPUTF8, DSN, AUTH mechanisms.
 * Each step waits as long as delivery would (the relay's connect/greeting/command timeouts),
 * unless --timeout bounds every step. The relays are those delivery uses (relay/env.ts
 * relaysFor: the file's, and OUTBOX_RELAY* as relay "env").
 * Then a verdict per relay: OK, WARN (usable, look at the warning) or FAIL (mail will not go out).
 * Before the relays: the domain senders get and where it came from, with a WARN line and the fix
 * for a name that cannot work (config/domain.ts domainReport). Secrets are judged as the user
 * that delivers mail (config/credentials.ts secretReader).
 * Nothing is ever sent (no MAIL FROM), and no secret is ever printed.
 *
 * Exit status: 0 every relay OK or WARN; 69 (EX_UNAVAILABLE) at least one relay FAIL; 78
 * (EX_CONFIG) the configuration is invalid or a relay's secret cannot be read; 64 bad usage.
 * The looking is relay/probe.ts (ports: relay/ports.ts; certificate: relay/probe-cert.ts); this
 * file reads the arguments, picks the relays, and prints the findings and verdicts.
 */
import { EX_CONFIG, EX_OK, EX_UNAVAILABLE, EX_USAGE, OutboxError } from '../sysexits.js';
import type { Io } from '../io.js';
import { loadConfig, type Config } from '../config/config.js';
import { parseForm, usageError, value } from '../cli/args.js';
import { relayList, relaysFor } from '../relay/env.js';
import { secretReader } from '../config/credentials.js';
import type { RelaySettings } from '../config/types.js';
import { domainReport, loginAddress } from '../config/domain.js';
import { relayLimits } from '../config/limits.js';
import { spoolPaths } from '../spool/spool.js';
import { STANDARD_PORTS } from '../relay/ports.js';
import { probe } from '../relay/probe.js';
import type { Finding, Level } from '../relay/probe-cert.js';

/** The verdict of a relay from its findings. */
export function verdictOf(findings: Finding[]): 'OK' | 'WARN' | 'FAIL' {
  if (findings.some((f) => f.level === 'fail' || f.level === 'config')) return 'FAIL';
  if (findings.some((f) => f.level === 'warn')) return 'WARN';
  return 'OK';
}

const MARK: Record<Level, string> = { ok: 'ok  ', info: '    ', warn: 'WARN', fail: 'FAIL', config: 'FAIL' };

export async function command(args: string[], io: Io): Promise<number> {
  // The queue monitoring check (monitoring-plugins exit codes): commands/check-queue.ts.
  if (args.includes('--queue')) return (await import('./check-queue.js')).command(args, io);
  const p = parseForm('check', args);
  const configFile = p.configFile;
  let stepMs: number | undefined;
  let ports = STANDARD_PORTS;
  const names = p.operands;
  const timeout = value(p, 'timeout');
  if (timeout !== undefined) {
    const v = Number(timeout);
    if (!(v > 0 && v <= 300)) throw usageError('check', '--timeout: seconds per step, 1 to 300');
    stepMs = v * 1000;
  }
  const portList = value(p, 'ports');
  if (portList !== undefined) {
    const v = portList.split(',').map(Number);
    if (v.length === 0 || v.some((n) => !(Number.isInteger(n) && n > 0 && n < 65536))) throw usageError('check', '--ports: a list like 587,465,25');
    ports = v;
  }
  const config: Config = loadConfig(configFile !== undefined ? { file: configFile } : {});
  const env = process.env;
  // The relays delivery uses: the file's, with the environment's merged in (relay/env.ts).
  const relays: RelaySettings[] = relayList(relaysFor(config, env));
  for (const n of names)
    if (!relays.some((r) => r.name === n))
      throw new OutboxError(EX_USAGE, `check: no relay named "${n}" (relays: ${relays.map((r) => r.name).join(', ') || 'none'})`);
  const chosen = names.length ? relays.filter((r) => names.includes(r.name)) : relays;
  if (chosen.length === 0) {
    throw new OutboxError(EX_CONFIG, `${config.file ?? 'no configuration file'}: no relay to check: add a [relay.NAME] table, or set OUTBOX_RELAY`);
  }
  let status = EX_OK;
  for (const line of domainReport(config, relays)) io.stdout.write(`${line}\n`);
  io.stdout.write('\n');
  const as = secretReader(config);
  // Relays are probed one after the other so that the report reads in order; each is bounded
  // by a few steps of --timeout seconds.
  for (const relay of chosen) {
    const { header, findings } = await probe(relay, {
      configFile: config.file,
      ...(stepMs ? { stepMs } : {}),
      ports,
      env,
      ehloName: config.hostname,
      ...(as ? { as } : {}),
    });
    const login = relay.forceSender ? undefined : loginAddress(relay);
    if (login)
      findings.push({
        level: 'info',
        text: `login-address rule: local senders go out as ${login}, the original kept in Reply-To: (login_sender = false / OUTBOX_RELAY_LOGIN_SENDER=no to turn it off)`,
      });
    // Sending limits and their use over the last 24 h, and a quota pause (runner/limits.ts).
    const lim = await import('../runner/limits.js');
    findings.push(...lim.limitReport(relayLimits(relay), lim.readLimitStateFor(spoolPaths(config.spool), relay.name), Date.now()));
    io.stdout.write(`${header}\n`);
    for (const f of findings) io.stdout.write(`  ${MARK[f.level]} ${f.text}\n`);
    const v = verdictOf(findings);
    const first = findings.find((f) => f.level === 'fail' || f.level === 'config') ?? findings.find((f) => f.level === 'warn');
    io.stdout.write(`verdict ${relay.name}: ${v}${first && v !== 'OK' ? `: ${first.text}` : ''}\n\n`);
    if (findings.some((f) => f.level === 'config')) status = EX_CONFIG;
    else if (v === 'FAIL' && status === EX_OK) status = EX_UNAVAILABLE;
  }
  return status;
}
