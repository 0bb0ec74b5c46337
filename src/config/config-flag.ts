/**
 * config/config-flag.ts — the one reader of `-C FILE` / `-CFILE` / `--config FILE` /
 * `--config=FILE` for the outbox subcommands (check, config, deliver, pickup), so the flag means
 * the same everywhere. Pure and tiny: `outbox deliver` (the -odi child) imports it.
 * Throws OutboxError(EX_USAGE) when the flag has no file name.
 */
import { EX_USAGE, OutboxError } from '../sysexits.js';

/** Take `-C FILE` / `-CFILE` / `--config FILE` / `--config=FILE` out of args. */
export function takeConfigFlag(args: string[]): { configFile?: string; rest: string[] } {
  const rest: string[] = [];
  let configFile: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-C' || a === '--config') {
      if (i + 1 >= args.length) throw new OutboxError(EX_USAGE, `${a} needs a file name`);
      configFile = args[++i];
    } else if (a.startsWith('-C') && a.length > 2) configFile = a.slice(2);
    else if (a.startsWith('--config=')) configFile = a.slice(9);
    else rest.push(a);
  }
  return { ...(configFile !== undefined ? { configFile } : {}), rest };
}
