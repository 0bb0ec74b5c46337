/**
 * commands/config.ts — `outbox config check [-C FILE] [--no-secrets]` and
 * `outbox config migrate [--auth FILE] [--format msmtp|dma|nullmailer] FILE`.
 *
 * check: load and validate the configuration (the same loader every mode uses), then what the
 *   loader does not do on the submit path: read each relay's secret (password_file permissions,
 *   password_command with its timeout, password_env), read the aliases file, and check that the
 *   files it names exist. Prints a summary on stdout and each problem as one line on stderr.
 *   Sends nothing, connects nowhere (that is `outbox check`). Exit 0 = valid, 78 = a problem,
 *   64 = bad usage. The OUTBOX_RELAY relay is checked like the file's (its password file too).
 *   Secrets are judged as the user that delivers mail would read them: root checking a system
 *   spool owned by `outbox` judges as `outbox` (credentials.ts secretReader). Also says which
 *   domain senders get and where it came from, with a WARN for a name that cannot work.
 * migrate: print the translated configuration on stdout (config/migrate.ts). Exit 0, or 66 when
 *   the file cannot be read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EX_CONFIG, EX_NOINPUT, EX_OK, OutboxError } from '../sysexits.js';
import type { Io } from '../io.js';
import { loadConfig, type Config } from '../config/config.js';
import { resolveSecret, secretReader } from '../config/credentials.js';
import { resolveOauthToken, tokenState } from '../config/oauth.js';
import { relayList, relaysFor } from '../relay/env.js';
import { domainReport, loginAddress } from '../config/domain.js';
import { checkRelayUrl } from '../relay/url.js';
import { DEFAULT_ALIASES, parseAliases } from '../config/aliases.js';
import { defaultRelayName } from '../plan/routing.js';
import { fallbackWarnings } from '../relay/fallback.js';
import { detectFormat, migrate, type MigrateFormat } from '../config/migrate.js';
import { has, parseForm, subcommand, usageError, value } from '../cli/args.js';

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function fileProblem(p: string, what: string): string | null {
  try {
    fs.accessSync(p, fs.constants.R_OK);
    return null;
  } catch (e) {
    return `${what} ${p}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read'}`;
  }
}

export async function checkConfig(config: Config, io: Io, opts: { secrets: boolean; env?: NodeJS.ProcessEnv }): Promise<number> {
  const env = opts.env ?? process.env;
  const problems: string[] = [];
  const say = (s: string) => io.stdout.write(s + '\n');
  say(`configuration: ${config.file ?? '(none: built-in defaults)'}`);
  say(`hostname ${config.hostname}, spool ${config.spool}`);
  // The relays delivery uses (relay/env.ts relaysFor: the environment's relay, trimmed and merged
  // into a file relay named "env", comes first), checked alike, its password file included.
  let merged = config;
  try {
    merged = relaysFor(config, env);
  } catch (e) {
    problems.push((e as Error).message);
  }
  const relays = relayList(merged);
  const fromEnv = Boolean(env.OUTBOX_RELAY?.trim());
  for (const line of domainReport(config, relays)) say(line);
  if (relays.length === 0 && !fromEnv) problems.push('no relay: add a [relay.NAME] table with url = "smtp+starttls://user@host:587", or set OUTBOX_RELAY');
  const as = secretReader(config);
  if (as && opts.secrets) say(`secrets judged as the user that delivers mail: uid ${as.uid}, group ${as.group} (the spool's owner)`);
  for (const r of relays) {
    const u = checkRelayUrl(r.url);
    const desc = 'error' in u ? r.url : `${u.scheme}://${u.host}:${u.port}${u.user ? ` as ${u.user}` : ''}`;
    let secret = 'no password';
    if (r.password !== undefined) secret = 'inline password';
    else if (r.passwordFile) secret = `password_file ${r.passwordFile}`;
    else if (r.passwordCommand) secret = 'password_command';
    else if (r.passwordEnv) secret = `password_env ${r.passwordEnv}`;
    if (opts.secrets) {
      const ctx = { configFile: config.file, env, ...(as ? { as } : {}) };
      try {
        const pw = await resolveSecret(r, ctx);
        if (pw !== undefined) secret += ' (read: ok)';
        if (r.oauthTokenCommand) await resolveOauthToken(r, ctx);
        if (r.oauth) {
          // Only the stored state: config check sends nothing, not even a token refresh.
          const st = tokenState(r);
          secret += `, OAuth: ${st.text}`;
          if (!st.ok) problems.push(`relay ${r.name}: ${st.text}`);
        }
      } catch (e) {
        problems.push((e as Error).message);
        secret += ' (NOT readable)';
      }
    }
    const login = r.forceSender ? undefined : loginAddress(r);
    const name = r.name === 'env' ? 'env (OUTBOX_RELAY)' : r.name;
    say(
      `relay ${name}: ${desc}, ${secret}${r.fallbacks?.length ? `, fallbacks ${r.fallbacks.join(', ')}` : ''}${r.forceSender ? `, force_sender ${r.forceSender}` : ''}${login ? `, local senders go out as ${login} (login-address rule)` : ''}`,
    );
    for (const [k, p] of [
      ['ca_file', r.caFile],
      ['client_cert', r.clientCert],
      ['client_key', r.clientKey],
    ] as const) {
      if (p) {
        const pr = fileProblem(p, r.name === 'env' && k === 'ca_file' ? 'OUTBOX_RELAY_CA' : `relay.${r.name}.${k}`);
        if (pr) problems.push(r.name === 'env' ? pr : `${config.file}${r.line ? `:${r.line}` : ''}: ${pr}`);
      }
    }
  }
  for (const w of fallbackWarnings(config.relays)) io.stderr.write(`outbox: warning: ${config.file}: ${w}\n`);
  if (relays.length > 0 || fromEnv) say(`default relay: ${fromEnv ? 'env' : defaultRelayName(config)}`);
  // A [[route]] with lists expands into several rules (one per combination): count the tables.
  const routes = config.routes ?? [];
  const tables = new Set(routes.map((r, i) => r.line ?? `#${i}`)).size;
  say(`routes: ${plural(tables, '[[route]] table')}${routes.length !== tables ? ` (${routes.length} rules)` : ''}`);
  const aliasesFile = config.aliasesFile ?? DEFAULT_ALIASES;
  try {
    const t = parseAliases(fs.readFileSync(aliasesFile, 'utf8'), aliasesFile);
    say(`aliases: ${aliasesFile}, ${plural(t.entries.size, 'entry', 'entries')}`);
    for (const p of t.problems) problems.push(`${aliasesFile}:${p.line}: ${p.message}`);
  } catch (e) {
    if (config.aliasesFile !== undefined || (e as NodeJS.ErrnoException).code !== 'ENOENT') {
      problems.push(`${aliasesFile}: cannot read the aliases file: ${(e as Error).message}`);
    } else say(`aliases: none (${aliasesFile} does not exist)`);
  }
  if (config.masquerade) say(`masquerade: local senders become user@${config.masquerade}`);
  if (config.senderTable?.length) say(`sender_table: ${plural(config.senderTable.length, 'entry', 'entries')}`);
  if (config.listener) {
    say(`listener: ${config.listener.listen.join(', ')}`);
    for (const [k, p] of [
      ['auth_users_file', config.listener.authUsersFile],
      ['tls_cert', config.listener.tlsCert],
      ['tls_key', config.listener.tlsKey],
    ] as const) {
      if (p) {
        const pr = fileProblem(p, `listener.${k}`);
        if (pr) problems.push(`${config.file}: ${pr}`);
      }
    }
  }
  for (const p of problems) io.stderr.write(`outbox: ${p}\n`);
  if (problems.length > 0) {
    say(`${problems.length} problem${problems.length === 1 ? '' : 's'} found`);
    return EX_CONFIG;
  }
  say('configuration OK');
  return EX_OK;
}

async function migrateCommand(args: string[], io: Io): Promise<number> {
  const a = parseForm('config migrate', args);
  const f = value(a, 'format');
  if (f !== undefined && f !== 'msmtp' && f !== 'dma' && f !== 'nullmailer') throw usageError('config migrate', '--format: expected msmtp, dma or nullmailer');
  const format: MigrateFormat | undefined = f;
  const auth = value(a, 'auth');
  const file = a.operands[0]!;
  const read = (p: string) => {
    try {
      return fs.readFileSync(p, 'utf8');
    } catch (e) {
      throw new OutboxError(EX_NOINPUT, `${p}: cannot read: ${(e as Error).message}`);
    }
  };
  const optional = (p: string) => {
    try {
      return fs.readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  };
  const text = read(file);
  const fmt = format ?? detectFormat(file, text);
  let authText: string | undefined;
  if (fmt === 'dma') {
    const m = /^\s*AUTHPATH\s+(\S+)/m.exec(text);
    authText = auth ? read(auth) : optional(m ? m[1]! : path.join(path.dirname(file), 'auth.conf'));
  }
  const dir = path.dirname(file);
  const out = migrate({
    format: fmt,
    file,
    text,
    ...(authText !== undefined ? { authText } : {}),
    ...(fmt === 'nullmailer' ? { defaultdomain: optional(path.join(dir, 'defaultdomain')) ?? '', me: optional(path.join(dir, 'me')) ?? '' } : {}),
  });
  io.stdout.write(out);
  return EX_OK;
}

export async function command(args: string[], io: Io): Promise<number> {
  const { form, rest } = subcommand('config', args);
  if (form === 'config migrate') return migrateCommand(rest, io);
  const p = parseForm(form, rest);
  return checkConfig(loadConfig({ file: p.configFile }), io, { secrets: !has(p, 'no-secrets') });
}
