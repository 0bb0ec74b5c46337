/**
 * outbox-cli.ts — the `outbox <command>` commands. Each command is a module loaded on demand,
 * so the submit path never loads them (or commander). See README.md "The outbox command".
 *
 *   outbox deliver [-C FILE] [-v] ID    deliver one queued message now (used by -odi and the
 *                                        background kick); exit status reflects the outcome
 *   outbox pickup [-C FILE] [-v]         move the system spool's incoming/ into the queue (as
 *                                        the spool owner; see src/spool/pickup.ts)
 *   outbox check [RELAY...]              diagnose relays: ports, STARTTLS, certificate, AUTH
 *   outbox config check                  validate the configuration file
 *   outbox config migrate FILE           translate msmtprc / dma.conf / nullmailer remotes
 *   outbox queue ...                     queue management (hold, release, delete, show, ...)
 *   outbox serve                         the optional loopback SMTP listener
 *   outbox oauth login RELAY             sign a relay's account in (built-in OAuth 2.0)
 */
import { EX_USAGE, OutboxError } from './sysexits.js';
import type { Io } from './main.js';

export type CommandModule = { command: (args: string[], io: Io) => Promise<number> };

const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  deliver: () => import('./runner/deliver-command.js'),
  pickup: () => import('./spool/pickup-command.js'),
  check: () => import('./config/check.js'),
  config: () => import('./config/command.js'),
  queue: () => import('./queue/manage.js'),
  serve: () => import('./smtpin/serve.js'),
  oauth: () => import('./config/oauth-command.js'),
};

export async function outboxCommand(args: string[], io: Io): Promise<number> {
  const [name, ...rest] = args;
  const load = COMMANDS[name!];
  if (!load) {
    throw new OutboxError(EX_USAGE, `${name}: unknown command (expected one of: ${Object.keys(COMMANDS).join(', ')}; sendmail flags start with -)`);
  }
  return (await load()).command(rest, io);
}
