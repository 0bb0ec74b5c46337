/**
 * commands/serve.ts — `outbox serve`: its options (through the one table, cli/args.ts)
 * laid over the configuration file's `[listener]` table, then the listener (smtpin/listener.ts).
 *
 *   outbox serve [-C FILE] [--listen HOST:PORT]... [--auth-users FILE] [--tls-cert FILE]
 *                [--tls-key FILE] [--max-clients N] [--idle-timeout SECONDS]
 *                [--sender-login-match remote|always|never]
 *   outbox serve --hash-password [USER]        print a users-file entry (password on stdin)
 *
 * A command-line option replaces the file's key. Throws OutboxError: EX_USAGE (options), and
 * what the listener throws (EX_CONFIG settings, EX_OSERR cannot listen).
 */
import type { Io } from '../io.js';
import { loadConfig } from '../config/config.js';
import type { ListenerSettings } from '../config/types.js';
import { EX_OK, EX_USAGE, OutboxError } from '../sysexits.js';
import { hashPassword } from '../smtpin/auth.js';
import { checkListener, serve } from '../smtpin/listener.js';
import { type Parsed, has, parseForm, usageError, value } from '../cli/args.js';

/** The listener settings the options give (only those given). Pure; throws EX_USAGE. */
export function listenerOptions(p: Parsed): ListenerSettings {
  const num = (name: string): number | undefined => {
    const s = value(p, name);
    if (s === undefined) return undefined;
    if (!/^\d+(\.\d+)?$/.test(s) || Number(s) <= 0) throw usageError('serve', `--${name} needs a positive number`);
    return Number(s);
  };
  const listener: ListenerSettings = { listen: [...(p.values.get('listen') ?? [])] };
  const authUsers = value(p, 'auth-users');
  if (authUsers) listener.authUsersFile = authUsers;
  const cert = value(p, 'tls-cert');
  if (cert) listener.tlsCert = cert;
  const key = value(p, 'tls-key');
  if (key) listener.tlsKey = key;
  const mc = num('max-clients');
  if (mc !== undefined) listener.maxClients = Math.floor(mc);
  const it = num('idle-timeout');
  if (it !== undefined) listener.idleTimeoutMs = Math.round(it * 1000);
  const slm = value(p, 'sender-login-match');
  if (slm !== undefined) {
    if (slm !== 'remote' && slm !== 'always' && slm !== 'never') throw usageError('serve', '--sender-login-match needs remote, always or never');
    listener.senderLoginMatch = slm;
  }
  return listener;
}

async function readAll(stdin: AsyncIterable<Buffer | string>): Promise<string> {
  let s = '';
  for await (const c of stdin) {
    s += typeof c === 'string' ? c : c.toString('utf8');
    if (s.length > 4096) throw new OutboxError(EX_USAGE, 'serve --hash-password: password too long');
  }
  return s;
}

/** `outbox serve --hash-password [USER]`: one users-file line for the password on stdin. */
async function hashCommand(user: string | undefined, io: Io): Promise<number> {
  const pw = (await readAll(io.stdin)).replace(/\r?\n$/, '');
  if (pw === '') throw new OutboxError(EX_USAGE, 'serve --hash-password: give the password on standard input');
  if (user !== undefined && !/^[^\s:#][^\s:]*$/.test(user)) throw new OutboxError(EX_USAGE, 'serve --hash-password: bad user name');
  const h = await hashPassword(pw);
  io.stdout.write(user !== undefined ? `${user}:${h}\n` : `${h}\n`);
  return EX_OK;
}

export async function command(args: string[], io: Io): Promise<number> {
  const p = parseForm('serve', args);
  if (has(p, 'hash-password')) return hashCommand(p.operands[0], io);
  if (p.operands.length > 0) throw usageError('serve', `unexpected argument ${JSON.stringify(p.operands[0])}`);
  const cli = listenerOptions(p);
  const config = loadConfig({ file: p.configFile });
  const fromFile: Partial<ListenerSettings> = config.listener ?? {};
  const settings: ListenerSettings = {
    ...fromFile,
    ...cli,
    listen: cli.listen.length > 0 ? cli.listen : ([] as string[]).concat(fromFile.listen ?? []),
  };
  const addrs = checkListener(settings);
  return serve(config, settings, addrs);
}
