/**
 * cli/args.ts — the one argument table of the `outbox` commands, and its one parser.
 *
 * Each form (`deliver`, `queue show`, `check --queue`, ...) declares its options (long name,
 * optional short letter, whether it takes a value, whether it may repeat) and how many operands
 * it takes. parseForm() then treats every command alike:
 *   -C FILE, -CFILE, --config FILE, --config=FILE   the configuration file (every form but
 *                                                    `config migrate`, which reads no configuration)
 *   --name VALUE, --name=VALUE, -xVALUE, -x VALUE   an option's value (the last one wins unless
 *                                                    the option repeats)
 *   --                                               the end of options
 *   --help, -h                                       answered by the dispatcher (wantsHelp) before
 *                                                    any command runs
 * and a usage error is always one line: `<form>: <what> (see outbox <command> --help)`, exit 64.
 * The usage texts themselves are in src/cli/usage.ts. Pure; throws OutboxError(EX_USAGE).
 */
import { EX_USAGE, OutboxError } from '../sysexits.js';

export interface OptionSpec {
  /** `--name`; with `short`, also `-x`. `longless` options have only the short spelling. */
  name: string;
  short?: string;
  longless?: true;
  takesValue?: true;
  repeat?: true;
}

export interface FormSpec {
  options: readonly OptionSpec[];
  /** Operands: at least min, at most max; `operand` names them in errors ("expected ID"). */
  min: number;
  max: number;
  operand?: string;
  /** false: no -C (the form reads no configuration). */
  config?: false;
}

const flag = (name: string, short?: string): OptionSpec => ({ name, ...(short ? { short } : {}) });
const valued = (name: string, repeat = false): OptionSpec => ({ name, takesValue: true, ...(repeat ? { repeat: true as const } : {}) });
const CONFIG: OptionSpec = { name: 'config', short: 'C', takesValue: true };
const verbose: OptionSpec = { name: 'v', short: 'v', longless: true };
const queueChange: FormSpec = {
  options: [flag('all'), valued('sender', true), valued('recipient', true), flag('held'), flag('deferred'), valued('older-than')],
  min: 0,
  max: Infinity,
};

/** Every form of every `outbox` command (the command list itself: src/commands/outbox.ts). */
export const FORMS: Readonly<Record<string, FormSpec>> = {
  deliver: { options: [verbose, flag('background')], min: 1, max: 1, operand: 'a queue id' },
  pickup: { options: [verbose], min: 0, max: 0 },
  check: { options: [valued('timeout'), valued('ports')], min: 0, max: Infinity },
  'check --queue': { options: [flag('queue'), valued('max-age'), valued('max-held')], min: 0, max: 0 },
  'config check': { options: [flag('no-secrets')], min: 0, max: 0 },
  'config migrate': { options: [valued('format'), valued('auth')], min: 1, max: 1, operand: 'one FILE to translate', config: false },
  'queue hold': queueChange,
  'queue release': queueChange,
  'queue requeue': queueChange,
  'queue delete': queueChange,
  'queue show': { options: [flag('no-body'), flag('json'), flag('raw')], min: 1, max: 1, operand: 'exactly one queue id' },
  'migrate-spool': { options: [valued('from')], min: 0, max: 0 },
  serve: {
    options: [
      valued('listen', true),
      valued('auth-users'),
      valued('tls-cert'),
      valued('tls-key'),
      valued('max-clients'),
      valued('idle-timeout'),
      valued('sender-login-match'),
      flag('hash-password'),
    ],
    min: 0,
    max: 1,
  },
  'oauth login': { options: [valued('import')], min: 1, max: 1, operand: 'one RELAY' },
  'oauth status': { options: [], min: 0, max: Infinity },
};

export interface Parsed {
  form: string;
  configFile?: string;
  /** Values by option name (a flag's value is ''); repeated options keep every value. */
  values: ReadonlyMap<string, readonly string[]>;
  operands: string[];
}

/** The last value of an option, or undefined. */
export const value = (p: Parsed, name: string): string | undefined => p.values.get(name)?.at(-1);
export const has = (p: Parsed, name: string): boolean => p.values.has(name);

/** The one usage error of the commands: one line, naming the form and where the usage is. */
export function usageError(form: string, what: string): OutboxError {
  return new OutboxError(EX_USAGE, `${form}: ${what} (see outbox ${form.split(' ')[0]} --help)`);
}

/** `--help` or `-h` before any `--`: every command answers it the same way (cli/usage.ts). */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** The form a command's first argument selects (`queue show ...` -> "queue show"), and the rest. */
export function subcommand(command: string, args: readonly string[]): { form: string; rest: string[] } {
  const subs = Object.keys(FORMS)
    .filter((f) => f.startsWith(`${command} `) && !f.includes(' -'))
    .map((f) => f.slice(command.length + 1));
  // -C FILE may come before the subcommand word too (`outbox queue -C FILE hold ID`).
  const lead: string[] = [];
  let i = 0;
  while (i < args.length && /^(-C|--config)(=|$)|^-C./.test(args[i]!)) {
    const a = args[i++]!;
    lead.push(a);
    if ((a === '-C' || a === '--config') && i < args.length) lead.push(args[i++]!);
  }
  const sub = args[i];
  const rest = [...lead, ...args.slice(i + 1)];
  if (sub === undefined) throw usageError(command, `a subcommand is required (${subs.join(', ')})`);
  if (!subs.includes(sub)) throw usageError(command, `${sub}: unknown subcommand (expected ${subs.join(', ')})`);
  return { form: `${command} ${sub}`, rest };
}

/** Parse `args` (after the command and subcommand words) as `form`. */
export function parseForm(form: string, args: readonly string[]): Parsed {
  const spec = FORMS[form];
  if (!spec) throw new Error(`no argument table for outbox ${form}`);
  const options = spec.config === false ? spec.options : [...spec.options, CONFIG];
  const values = new Map<string, string[]>();
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      operands.push(a);
      continue;
    }
    const long = a.startsWith('--');
    const eq = long ? a.indexOf('=') : -1;
    const name = long ? a.slice(2, eq < 0 ? undefined : eq) : a.slice(1, 2);
    const o = options.find((x) => (long ? x.name === name && !x.longless : x.short === name));
    if (!o) throw usageError(form, `unknown option ${JSON.stringify(long ? a.slice(0, eq < 0 ? undefined : eq) : a)}`);
    const spelled = long ? `--${name}` : `-${name}`;
    let v = '';
    if (o.takesValue) {
      const attached = long ? (eq < 0 ? undefined : a.slice(eq + 1)) : a.length > 2 ? a.slice(2) : undefined;
      v = attached ?? args[++i] ?? '';
      if (attached === undefined && i >= args.length) throw usageError(form, `${spelled} needs ${o.name === 'config' ? 'a file name' : 'a value'}`);
    } else if (eq >= 0 || (!long && a.length > 2)) throw usageError(form, `${spelled} takes no value (${JSON.stringify(a)})`);
    values.set(o.name, o.repeat ? [...(values.get(o.name) ?? []), v] : [v]);
  }
  if (operands.length > spec.max) throw usageError(form, `unexpected argument ${JSON.stringify(operands[spec.max])}`);
  if (operands.length < spec.min) throw usageError(form, `expected ${spec.operand ?? 'an argument'}`);
  const configFile = values.get('config')?.at(-1);
  values.delete('config');
  return { form, ...(configFile !== undefined ? { configFile } : {}), values, operands };
}
