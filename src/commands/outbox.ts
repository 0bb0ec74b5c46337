/**
 * commands/outbox.ts — the `outbox <command>` commands. Each command is a module loaded on demand,
 * so the submit path never loads them. See README.md "The outbox command".
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
 *   outbox                               (no arguments) the usage on stderr, exit 64
 *
 * The arguments of every command are parsed by one table (cli/args.ts); this is the one
 * file that lists the commands.
 */
import { EX_OK, EX_USAGE, OutboxError } from '../sysexits.js';
import type { Io } from '../io.js';
import { wantsHelp } from '../cli/args.js';

export type CommandModule = { command: (args: string[], io: Io) => Promise<number> };

export const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  deliver: () => import('./deliver.js'),
  pickup: () => import('./pickup.js'),
  check: () => import('./check.js'),
  config: () => import('./config.js'),
  queue: () => import('./queue.js'),
  'migrate-spool': () => import('./migrate-spool.js'),
  serve: () => import('./serve.js'),
  oauth: () => import('./oauth.js'),
};

export async function outboxCommand(args: string[], io: Io): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined) {
    // A bare `outbox` is someone asking what it does, not a message on stdin: the usage, as a
    // usage error (sendmail's message submission is `sendmail`, or `outbox` with its flags).
    const { programUsage } = await import('../cli/usage.js');
    io.stderr.write(programUsage('outbox') + '\n');
    return EX_USAGE;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    const { commandUsage, programUsage } = await import('../cli/usage.js');
    const topic = rest[0];
    if (topic !== undefined && !COMMANDS[topic])
      throw new OutboxError(EX_USAGE, `help: ${topic}: unknown command (expected one of: ${Object.keys(COMMANDS).join(', ')})`);
    io.stdout.write((topic !== undefined ? commandUsage(topic) : programUsage('outbox')) + '\n');
    return EX_OK;
  }
  const load = COMMANDS[name];
  if (!load) {
    throw new OutboxError(
      EX_USAGE,
      `${name}: unknown command (expected one of: ${Object.keys(COMMANDS).join(', ')}; sendmail flags start with -; outbox --help)`,
    );
  }
  if (wantsHelp(rest)) {
    const { commandUsage } = await import('../cli/usage.js');
    io.stdout.write(commandUsage(name) + '\n');
    return EX_OK;
  }
  return (await load()).command(rest, io);
}
