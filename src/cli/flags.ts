/**
 * cli/flags.ts — sendmail's command line, as one table, parsed into a Mode.
 *
 * The flag surface is sendmail 8's and Postfix's sendmail(1)'s. Every flag a real caller may pass
 * is a row in FLAGS: it either means something to Outbox, or is accepted and ignored (with the
 * reason), or is rejected as unsupported. Parsing follows getopt(3): flags may be grouped (`-ti`),
 * values may be attached (`-fuser@x`, `-FCronDaemon`, `-oem`) or in the next argument (`-f user`),
 * `--` ends options. A flag not in the table is a usage error (64), as in sendmail, Postfix, dma
 * and msmtp.
 *
 * Pure: argv in, Mode out. Throws OutboxError(EX_USAGE) with one clear line. The caller
 * (src/main.ts) decides what to run. Address syntax is checked later (src/message/address.ts);
 * here we only refuse values that can never be right (line breaks, NUL).
 */
import { EX_USAGE, OutboxError } from '../sysexits.js';
import { checkNotify } from '../message/dsn.js';
import { parseDuration } from '../duration.js';

export type DeliveryMode = 'background' | 'interactive' | 'queue';

export interface DsnOptions {
  /** -N: NEVER, or a list of SUCCESS, DELAY, FAILURE (upper case, as sent in RCPT NOTIFY=). */
  notify?: string[];
  /** -R: FULL or HDRS. */
  ret?: 'FULL' | 'HDRS';
  /** -V: the envelope id (xtext decoded). */
  envid?: string;
}

export interface QueueRunFilter {
  ids: string[];
  recipients: string[];
  senders: string[];
}

export interface CommonOptions {
  configFile?: string | undefined;
  verbose: boolean;
  /** Flags that were accepted and ignored, for -v diagnostics. */
  ignored: string[];
}

export interface SendOptions extends CommonOptions {
  kind: 'send';
  /** -f / -r as given ('' means the null sender <>); undefined: default sender. */
  sender?: string | undefined;
  /** -F */
  fullName?: string | undefined;
  /** -t */
  extractRecipients: boolean;
  /** -i / -oi: a lone '.' line is not special. */
  ignoreDots: boolean;
  /** -B */
  bodyType?: '7BIT' | '8BITMIME' | undefined;
  dsn: DsnOptions;
  deliveryMode?: DeliveryMode | undefined;
  /** Recipient arguments as given (each may hold a comma-separated list). */
  recipients: string[];
}

export type Mode =
  | SendOptions
  | (CommonOptions & { kind: 'smtp'; deliveryMode?: DeliveryMode })
  | (CommonOptions & { kind: 'list'; json: boolean })
  | (CommonOptions & { kind: 'newaliases' })
  | (CommonOptions & { kind: 'verify'; addresses: string[] })
  | (CommonOptions & { kind: 'queue-run'; filter: QueueRunFilter; intervalMs?: number | undefined; daemon: boolean })
  | (CommonOptions & { kind: 'version' })
  | (CommonOptions & { kind: 'help' });

type Takes = 'none' | 'value' | 'optional-attached';

interface FlagRow {
  flag: string;
  takes: Takes;
  /** What it does; 'ignored: why' for accepted no-ops. */
  meaning: string;
}

/** The whole sendmail flag table. Keep it in the order of sendmail(8)'s manual. */
export const FLAGS: readonly FlagRow[] = [
  { flag: 'A', takes: 'value', meaning: 'ignored: -Ac/-Am selects sendmail.cf or submit.cf' },
  { flag: 'B', takes: 'value', meaning: 'body type: 7BIT or 8BITMIME' },
  { flag: 'b', takes: 'value', meaning: 'mode: m send (default), s SMTP on stdin, p list queue, i newaliases, v verify, d daemon' },
  { flag: 'C', takes: 'value', meaning: 'configuration file' },
  { flag: 'c', takes: 'none', meaning: 'ignored: HoldExpensive' },
  { flag: 'D', takes: 'value', meaning: 'ignored: debug output file' },
  { flag: 'd', takes: 'optional-attached', meaning: 'ignored: debugging flags' },
  { flag: 'e', takes: 'value', meaning: 'ignored: error mode (use -oe)' },
  { flag: 'F', takes: 'value', meaning: 'full name of the sender' },
  { flag: 'f', takes: 'value', meaning: 'envelope sender' },
  { flag: 'G', takes: 'none', meaning: 'ignored: gateway submission' },
  { flag: 'h', takes: 'value', meaning: 'ignored: hop count' },
  { flag: 'I', takes: 'none', meaning: 'newaliases' },
  { flag: 'i', takes: 'none', meaning: "a line with a single '.' does not end the message" },
  { flag: 'L', takes: 'value', meaning: 'ignored: syslog label' },
  { flag: 'M', takes: 'value', meaning: 'ignored: sendmail macro definition' },
  { flag: 'm', takes: 'none', meaning: 'ignored: MeToo (always on)' },
  { flag: 'N', takes: 'value', meaning: 'DSN notify: never or success,delay,failure' },
  { flag: 'n', takes: 'none', meaning: 'ignored: no aliasing' },
  { flag: 'O', takes: 'value', meaning: 'ignored: long option=value (only -o options with a meaning are honoured)' },
  { flag: 'o', takes: 'value', meaning: 'option: -oi ignore dots, -od<b|i|q> delivery mode, others ignored' },
  { flag: 'p', takes: 'value', meaning: 'ignored: protocol and host name' },
  { flag: 'q', takes: 'optional-attached', meaning: 'queue run: -q now, -q15m daemon, -qI/-qR/-qS filters' },
  { flag: 'R', takes: 'value', meaning: 'DSN return: full or hdrs' },
  { flag: 'r', takes: 'value', meaning: 'envelope sender (old name of -f)' },
  { flag: 's', takes: 'none', meaning: 'ignored: SaveFromLine' },
  { flag: 'T', takes: 'value', meaning: 'ignored: queue timeout (use the config file)' },
  { flag: 't', takes: 'none', meaning: 'read recipients from To:, Cc: and Bcc:' },
  { flag: 'U', takes: 'none', meaning: 'ignored: initial user submission' },
  { flag: 'V', takes: 'value', meaning: 'DSN envelope id' },
  { flag: 'v', takes: 'none', meaning: 'verbose' },
  { flag: 'X', takes: 'value', meaning: 'ignored: traffic log file (never written)' },
  { flag: 'x', takes: 'none', meaning: 'ignored' },
];

const BY_FLAG = new Map(FLAGS.map((r) => [r.flag, r]));

function usage(message: string): OutboxError {
  return new OutboxError(EX_USAGE, message);
}

/**
 * Values that reach headers or the envelope may not hold line breaks or NUL (no injection).
 * `flag` names the option; `what` overrides how the value is named (an operand is no flag).
 */
function checkValue(flag: string, value: string, what = `-${flag}: value`): string {
  if (/[\r\n\0]/.test(value)) throw usage(`${what} contains a line break or NUL byte`);
  return value;
}

/** Decode RFC 3461 xtext (+XX hex escapes). */
function xtextDecode(s: string): string {
  return s.replace(/\+([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/**
 * Parse sendmail's arguments (argv without the program name). `invokedAs` is the basename the
 * program was called by: mailq and newaliases select their mode before any flag is read.
 */
export function parseArgs(args: readonly string[], invokedAs = 'sendmail'): Mode {
  const common: CommonOptions = { verbose: false, ignored: [] };
  let mode = invokedAs === 'mailq' ? 'p' : invokedAs === 'newaliases' ? 'i' : 'm';
  let sender: string | undefined;
  let fullName: string | undefined;
  let extract = false;
  let ignoreDots = false;
  let bodyType: SendOptions['bodyType'];
  let deliveryMode: DeliveryMode | undefined;
  let json = false;
  const dsn: DsnOptions = {};
  const filter: QueueRunFilter = { ids: [], recipients: [], senders: [] };
  let queueRun = false;
  let intervalMs: number | undefined;
  const operands: string[] = [];

  const apply = (flag: string, value: string | undefined): void => {
    switch (flag) {
      case 'b': {
        const m = value ?? '';
        if (!['m', 's', 'p', 'i', 'v', 'd', 'D'].includes(m)) throw usage(`-b${m}: unsupported mode`);
        mode = m === 'D' ? 'd' : m;
        return;
      }
      case 'B': {
        const v = checkValue(flag, value ?? '').toUpperCase();
        if (v !== '7BIT' && v !== '8BITMIME') throw usage(`-B${value ?? ''}: body type must be 7BIT or 8BITMIME`);
        bodyType = v;
        return;
      }
      case 'C':
        common.configFile = checkValue(flag, value!);
        return;
      case 'F':
        fullName = checkValue(flag, value!);
        // It becomes a From: header that queue show prints: no terminal controls (ESC, ...).
        if (/[\x00-\x1f\x7f-\x9f]/.test(fullName)) throw usage('-F: value contains a control character');
        return;
      case 'f':
      case 'r':
        sender = checkValue(flag, value!);
        return;
      case 'I':
        mode = 'i';
        return;
      case 'i':
        ignoreDots = true;
        return;
      case 'N': {
        const words = checkValue(flag, value ?? '')
          .toUpperCase()
          .split(/[\s,]+/)
          .filter(Boolean);
        const notify = checkNotify(words);
        if (!notify) throw usage(`-N${value ?? ''}: expected "never" or a list of success, delay, failure`);
        dsn.notify = notify;
        return;
      }
      case 'R': {
        const v = checkValue(flag, value ?? '').toUpperCase();
        if (v !== 'FULL' && v !== 'HDRS') throw usage(`-R${value ?? ''}: expected full or hdrs`);
        dsn.ret = v;
        return;
      }
      case 'V': {
        const v = xtextDecode(checkValue(flag, value ?? ''));
        if (v.length === 0 || v.length > 100 || /[^\x21-\x7e]/.test(v)) throw usage('-V: envelope id must be 1 to 100 printable ASCII characters');
        dsn.envid = v;
        return;
      }
      case 't':
        extract = true;
        return;
      case 'v':
        common.verbose = true;
        return;
      case 'o': {
        const v = value ?? '';
        if (v === 'i') ignoreDots = true;
        else if (v.startsWith('d')) {
          const d = v.slice(1).toLowerCase();
          if (d === 'b' || d === 'd' || d === '') deliveryMode = 'background';
          else if (d === 'i') deliveryMode = 'interactive';
          else if (d === 'q') deliveryMode = 'queue';
          else throw usage(`-o${v}: delivery mode must be b, i or q`);
        } else common.ignored.push(`-o${v}`);
        return;
      }
      case 'q': {
        queueRun = true;
        const v = value ?? '';
        if (v === '' || v === 'f') return;
        if (v[0] === 'I') filter.ids.push(v.slice(1));
        else if (v[0] === 'R') filter.recipients.push(v.slice(1).toLowerCase());
        else if (v[0] === 'S') filter.senders.push(v.slice(1).toLowerCase());
        else {
          // -q15m, or -qp15m (sendmail's persistent queue runner, the same here).
          const ms = (v[0] === 'p' ? parseDuration(v.slice(1), 'm') : null) ?? parseDuration(v, 'm');
          if (ms === null) throw usage(`-q${v}: expected -q, -q<interval>, -qI<id>, -qR<recipient> or -qS<sender>`);
          intervalMs = ms;
        }
        return;
      }
      default:
        common.ignored.push(`-${flag}${value ?? ''}`);
    }
  };

  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    // Long options of mailq (`mailq --json`) and the conventional --help/--version.
    if (arg.startsWith('--')) {
      if (arg === '--json' && mode === 'p') json = true;
      else if (arg === '--version') mode = 'version';
      else if (arg === '--help') mode = 'help';
      else throw usage(`${arg}: unknown option`);
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      operands.push(arg);
      continue;
    }
    for (let j = 1; j < arg.length; j++) {
      const flag = arg[j]!;
      const row = BY_FLAG.get(flag);
      if (!row) throw usage(`-${flag}: unknown option`);
      if (row.takes === 'none') {
        apply(flag, undefined);
        continue;
      }
      let value: string | undefined = arg.slice(j + 1);
      if (row.takes === 'value' && value === '') {
        if (i + 1 >= args.length) throw usage(`-${flag}: option requires a value`);
        value = args[++i]!;
      }
      // `-f ''` is a value, the null sender (bounce generators and list managers pass it);
      // any other empty value counts as absent, as before.
      apply(flag, value === '' && flag !== 'f' && flag !== 'r' ? undefined : value);
      break;
    }
  }
  operands.push(...args.slice(i));

  if (mode === 'version') return { ...common, kind: 'version' };
  if (mode === 'help') return { ...common, kind: 'help' };
  if (queueRun) {
    if (mode === 'p') return { ...common, kind: 'list', json };
    return { ...common, kind: 'queue-run', filter, intervalMs, daemon: intervalMs !== undefined || mode === 'd' };
  }
  switch (mode) {
    case 's':
      return { ...common, kind: 'smtp', ...(deliveryMode ? { deliveryMode } : {}) };
    case 'p':
      return { ...common, kind: 'list', json };
    case 'i':
      return { ...common, kind: 'newaliases' };
    case 'd':
      // Without -q<interval>, the daemon scans every [delivery] scan_interval (daemon.ts).
      return { ...common, kind: 'queue-run', filter, intervalMs, daemon: true };
    case 'v':
      if (operands.length === 0) throw usage('-bv: no addresses to verify');
      return { ...common, kind: 'verify', addresses: operands.map((a) => checkValue('bv', a, `-bv: address ${JSON.stringify(a)}`)) };
  }
  for (const r of operands) {
    checkValue('', r, `recipient ${JSON.stringify(r)}`);
    if (r.trimStart().startsWith('-')) throw usage(`${r}: a recipient may not start with '-'`);
  }
  return {
    ...common,
    kind: 'send',
    sender,
    fullName,
    extractRecipients: extract,
    ignoreDots,
    bodyType,
    dsn,
    deliveryMode,
    recipients: operands,
  };
}
