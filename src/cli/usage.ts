/**
 * cli/usage.ts — the usage text of every command, in one place.
 *
 * `--help` prints these texts (exit 0); a usage error is one line that points at them
 * (cli/args.ts usageError). sendmail's flag list is generated
 * from the flag table itself (FLAGS in cli/flags.ts), the one source of the flags. The manual
 * pages' SYNOPSIS sections are generated from these forms too (synopsis(), filled in by
 * scripts/build/build-man.mjs), so docs/man/*.md hold no copy. In the forms, UPPERCASE words are
 * placeholders and everything else is typed as written.
 *
 * Pure text; loaded only for --help (and `outbox check --queue`'s UNKNOWN line), never on the
 * submit path. Used by src/main.ts (sendmail, mailq, newaliases), src/commands/outbox.ts and
 * commands/queue.ts (outbox), commands/check-queue.ts, and scripts/build/build-man.mjs (the SYNOPSIS).
 */
import { FLAGS } from './flags.js';

export interface CommandUsage {
  /** One line for `outbox --help`'s list of commands. */
  summary: string;
  /** The usage lines, starting with "usage: "; lines of forms start with "usage: " or spaces + "outbox ". */
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

/** The forms of a command ("outbox check [-C FILE] ..."), without "usage:" and notes. */
export function commandForms(name: string): string[] {
  return commandUsage(name)
    .split('\n')
    .filter((l) => /^(usage:)?\s+outbox /.test(l) || l.startsWith('usage: '))
    .map((l) => l.replace(/^usage:\s*|^\s+/, '').split(/\s{3,}/)[0]!);
}

/** The one form of a command's usage that contains `marker`, as "usage: outbox ...". */
export function usageForm(name: string, marker: string): string {
  const form = commandForms(name).find((l) => l.includes(marker));
  if (!form) throw new Error(`no usage form of outbox ${name} with ${marker}`);
  return `usage: ${form}`;
}

/** The forms of sendmail, mailq and newaliases, each with what it does. */
const PROGRAM_FORMS: Readonly<Record<string, readonly (readonly [string, string])[]>> = {
  sendmail: [
    ['sendmail [FLAGS] [--] [RECIPIENT...]', 'send the message on standard input'],
    ['sendmail -t [FLAGS] [RECIPIENT...]', 'the recipients from its To:, Cc: and Bcc:'],
    [
      'sendmail -bs | -bp | -bi | -bv ADDRESS... | -bd [-qINTERVAL] | -q[INTERVAL]',
      'SMTP on stdio, list the queue, check aliases, verify addresses, queue daemon, run the queue',
    ],
  ],
  mailq: [
    ['mailq [-C FILE] [--json]', 'list the queue; --json: one JSON object per message'],
    ['sendmail -bp', 'the same'],
  ],
  newaliases: [
    ['newaliases [-C FILE]', 'check the aliases file (there is no database to rebuild)'],
    ['sendmail -bi', 'the same'],
  ],
};

/** `usage: A   what A does` then the other forms aligned under it. */
function formLines(forms: readonly (readonly [string, string])[]): string[] {
  return forms.map(([f, what], i) => `${i === 0 ? 'usage: ' : '       '}${f}   ${what}`);
}

function sendmailUsage(): string {
  const arg = (takes: string) => (takes === 'value' ? ' VALUE' : takes === 'optional-attached' ? '[VALUE]' : '');
  const rows = FLAGS.map((r) => `  -${(r.flag + arg(r.takes)).padEnd(9)} ${r.meaning}`);
  return [
    ...formLines(PROGRAM_FORMS.sendmail!),
    'Flags may be grouped (-ti) and take values attached (-fuser@x) or separate (-f user@x).',
    ...rows,
    '  --version  print the version',
    '  --help     this text',
    'The Outbox commands (queue management, relay check, ...): outbox --help',
  ].join('\n');
}

/** The forms of `outbox` itself, before its commands'. */
const SELF_FORMS: readonly (readonly [string, string])[] = [
  ['outbox COMMAND [ARGS...]', "outbox COMMAND --help: that command's usage"],
  ['outbox [FLAGS] [--] [RECIPIENT...]', 'the same as sendmail (sendmail --help)'],
];

function outboxUsage(): string {
  const names = Object.keys(COMMAND_USAGE).sort();
  const width = Math.max(...names.map((n) => n.length));
  return [...formLines(SELF_FORMS), 'commands:', ...names.map((n) => `  ${n.padEnd(width)}  ${COMMAND_USAGE[n]!.summary}`)].join('\n');
}

/** The usage of a program by the name it was called as: sendmail, mailq, newaliases, outbox. */
export function programUsage(prog: string): string {
  switch (prog) {
    case 'mailq':
    case 'newaliases':
      return formLines(PROGRAM_FORMS[prog]!).join('\n');
    case 'outbox':
      return outboxUsage();
    default:
      return sendmailUsage();
  }
}

/**
 * The SYNOPSIS lines of a manual page (sendmail, mailq, newaliases, outbox), as plain forms.
 * outbox(8) lists every command's forms, in the order of COMMAND_USAGE.
 */
export function synopsis(page: string): string[] {
  if (page !== 'outbox') {
    const forms = PROGRAM_FORMS[page];
    if (!forms) throw new Error(`no synopsis for ${page}`);
    return forms.map(([f]) => f);
  }
  return [SELF_FORMS[1]![0], ...Object.keys(COMMAND_USAGE).flatMap(commandForms), 'outbox help [COMMAND]', 'outbox COMMAND --help'];
}
