/**
 * commands/outbox.ts — the `outbox <command>` commands. Each command is a module loaded on demand,
 * so the submit path never loads them (or commander). See README.md "The outbox command".
 *
 *   outbox deliver [-C FILE] [-v] ID    deliver one queued message now (used by -odi and the
 *                                        background kick); exit status reflects the outcome
 *   outbox pickup [-C FILE] [-v]         move the system spool's incoming/ into the queue (as
 *                                        the spool owner; see src/spool/pickup.ts)
 *   outbox check [RELAY...]              diagnose relays: ports, STARTTLS, certificate, AUTH
 *   outbox check --queue [--max-age D] [--max-held N]   monitoring check of the queue (exit 0-3)
 *   outbox config check                  validate the configuration file
 *   outbox config migrate FILE           translate msmtprc / dma.conf / nullmailer remotes
 *   outbox queue ...                     queue management (hold, release, delete, show, ...)
 *   outbox migrate-spool                 move a private spool's messages into the system queue
 *   outbox serve                         the optional loopback SMTP listener
 *   outbox oauth login RELAY             sign a relay's account in (built-in OAuth 2.0)
 *   outbox help [COMMAND], outbox COMMAND --help   usage (the texts: src/cli/usage.ts)
 */
import { EX_OK, EX_USAGE, OutboxError } from '../sysexits.js';
import type { Io } from '../io.js';

export type CommandModule = { command: (args: string[], io: Io) => Promise<number> };

export const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  deliver: () => import('./deliver.js'),
  pickup: () => import('./pickup.js'),
  check: () => import('./check.js'),
  config: () => import('./config.js'),
  queue: () => import('../queue/manage.js'),
  'migrate-spool': () => import('./migrate-spool.js'),
  serve: () => import('../smtpin/serve.js'),
  oauth: () => import('./oauth.js'),
};

/** `--help` or `-h` before any `--`: every command answers it the same way (cli/usage.ts). */
function wantsHelp(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

export async function outboxCommand(args: string[], io: Io): Promise<number> {
  const [name, ...rest] = args;
  if (name === 'help' || name === '--help' || name === '-h') {
    const { commandUsage, programUsage } = await import('../cli/usage.js');
    const topic = rest[0];
    if (topic !== undefined && !COMMANDS[topic])
      throw new OutboxError(EX_USAGE, `help: ${topic}: unknown command (expected one of: ${Object.keys(COMMANDS).join(', ')})`);
    io.stdout.write((topic !== undefined ? commandUsage(topic) : programUsage('outbox')) + '\n');
    return EX_OK;
  }
  const load = COMMANDS[name!];
  if (!load) {
    throw new OutboxError(
      EX_USAGE,
      `${name}: unknown command (expected one of: ${Object.keys(COMMANDS).join(', ')}; sendmail flags start with -; outbox --help)`,
    );
  }
  if (wantsHelp(rest)) {
    const { commandUsage } = await import('../cli/usage.js');
    io.stdout.write(commandUsage(name!) + '\n');
    return EX_OK;
  }
  return (await load()).command(rest, io);
}
