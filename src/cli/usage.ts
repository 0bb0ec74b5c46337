/**
 * cli/usage.ts — the usage text of every command, in one place.
 *
 * `--help` prints these texts (exit 0) and usage errors quote them, so what a command says it
 * takes and what it takes cannot drift apart in two copies. sendmail's flag list is generated
 * from the flag table itself (FLAGS in cli/flags.ts), the one source of the flags. (A later
 * restructuring generates man pages from one source; until then this module is that source.)
 *
 * Pure text; loaded only for --help and usage errors, never on the submit path.
 * Used by src/main.ts (sendmail, mailq, newaliases, outbox) and src/commands/outbox.ts (subcommands).
 */
import { FLAGS } from './flags.js';

export interface CommandUsage {
  /** One line for `outbox --help`'s list of commands. */
  summary: string;
  /** The usage lines, starting with "usage: ". The first line alone is quoted by one-line errors. */
  usage: string;
}

/** `outbox COMMAND`: keep in step with COMMANDS in src/commands/outbox.ts (a unit test checks it). */
export const COMMAND_USAGE: Readonly<Record<string, CommandUsage>> = {
  check: {
    summary: 'diagnose relays (ports, STARTTLS, certificate, AUTH); --queue: a monitoring check',
    usage: `usage: outbox check [-C FILE] [--timeout SECONDS] [--ports 587,465,25] [RELAY...]
       outbox check --queue [-C FILE] [--max-age DURATION] [--max-held N]`,
  },
  config: {
    summary: 'validate the configuration file, or translate msmtprc / dma.conf / nullmailer remotes',
    usage: `usage: outbox config check [-C FILE] [--no-secrets]
       outbox config migrate [--format msmtp|dma|nullmailer] [--auth AUTHFILE] FILE`,
  },
  deliver: {
    summary: 'deliver one queued message now (what -odi and the background kick run)',
    usage: 'usage: outbox deliver [-C FILE] [-v] ID',
  },
  'migrate-spool': {
    summary: 'move the messages of your private spool (~/.local/state/outbox) into the system queue',
    usage: 'usage: outbox migrate-spool [-C FILE] [--from DIR]',
  },
  oauth: {
    summary: "sign a relay's account in with OAuth 2.0, or show its tokens' state",
    usage: `usage: outbox oauth login [-C FILE] [--import FILE] RELAY
       outbox oauth status [-C FILE] [RELAY...]`,
  },
  pickup: {
    summary: "move what submitters dropped into the system spool's incoming/ into the queue",
    usage: 'usage: outbox pickup [-C FILE] [-v]',
  },
  queue: {
    summary: 'hold, release, requeue, delete or show queued messages',
    usage: `usage: outbox queue hold|release|requeue|delete [-C FILE] (ID... | --all | FILTER...)
       outbox queue show [-C FILE] [--no-body | --json] [--raw] ID
FILTER: --sender=TEXT --recipient=TEXT --held --deferred --older-than=AGE (30s, 15m, 12h, 7d, 2w)`,
  },
  serve: {
    summary: 'the optional SMTP listener (loopback, or AUTH over STARTTLS)',
    usage: `usage: outbox serve [-C FILE] [--listen HOST:PORT]... [--auth-users FILE] [--tls-cert FILE --tls-key FILE] [--max-clients N] [--idle-timeout SECONDS] [--sender-login-match remote|always|never]
       outbox serve --hash-password [USER]   (password on stdin)`,
  },
};

/** The usage of `outbox NAME`; throws on an unknown name (a programming error). */
export function commandUsage(name: string): string {
  const u = COMMAND_USAGE[name];
  if (!u) throw new Error(`no usage text for outbox ${name}`);
  return u.usage;
}

/** The forms of a command's usage on one line ("usage: A | B"), for one-line error messages. */
export function usageLine(name: string): string {
  const forms = commandUsage(name)
    .split('\n')
    .filter((l) => /^(usage:)?\s+outbox /.test(l) || l.startsWith('usage: '))
    .map((l) => l.replace(/^usage:\s*|^\s+/, ''));
  return `usage: ${forms.join(' | ')}`;
}

/** The one form of a command's usage that contains `marker`, as "usage: outbox ...". */
export function usageForm(name: string, marker: string): string {
  const line = commandUsage(name)
    .split('\n')
    .find((l) => l.includes(marker));
  if (!line) throw new Error(`no usage form of outbox ${name} with ${marker}`);
  return `usage: ${line.replace(/^usage:\s*|^\s+/, '')}`;
}

function sendmailUsage(): string {
  const arg = (takes: string) => (takes === 'value' ? ' VALUE' : takes === 'optional-attached' ? '[VALUE]' : '');
  const rows = FLAGS.map((r) => `  -${(r.flag + arg(r.takes)).padEnd(9)} ${r.meaning}`);
  return [
    'usage: sendmail [flags] [--] [recipient ...]   send the message on standard input',
    '       sendmail -bs | -bp | -bi | -bv ADDRESS... | -q[INTERVAL] | -bd   SMTP on stdio, list the',
    '                queue, check aliases, verify addresses, run the queue, queue daemon',
    'Flags may be grouped (-ti) and take values attached (-fuser@x) or separate (-f user@x).',
    ...rows,
    '  --version  print the version',
    '  --help     this text',
    'The Outbox commands (queue management, relay check, ...): outbox --help',
  ].join('\n');
}

function outboxUsage(): string {
  const names = Object.keys(COMMAND_USAGE).sort();
  const width = Math.max(...names.map((n) => n.length));
  return [
    "usage: outbox COMMAND [ARGS...]       (outbox COMMAND --help: that command's usage)",
    '       outbox [sendmail flags] [--] [recipient ...]   the same as sendmail (sendmail --help)',
    'commands:',
    ...names.map((n) => `  ${n.padEnd(width)}  ${COMMAND_USAGE[n]!.summary}`),
  ].join('\n');
}

/** The usage of a program by the name it was called as: sendmail, mailq, newaliases, outbox. */
export function programUsage(prog: string): string {
  switch (prog) {
    case 'mailq':
      return 'usage: mailq [-C FILE] [--json]   list the queue (= sendmail -bp); --json: one JSON object per message';
    case 'newaliases':
      return 'usage: newaliases [-C FILE]   check the aliases file (= sendmail -bi; there is no database to rebuild)';
    case 'outbox':
      return outboxUsage();
    default:
      return sendmailUsage();
  }
}
