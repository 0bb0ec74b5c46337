/** Placeholder until the SMTP-in issue lands: -bs exits 69 (EX_UNAVAILABLE). */
import { EX_UNAVAILABLE, OutboxError } from '../sysexits.js';
import type { Io } from '../main.js';
import type { Mode } from '../cli/flags.js';
import type { Config } from '../config/config.js';

export async function runSmtpStdio(_mode: Extract<Mode, { kind: 'smtp' }>, _config: Config, _io: Io): Promise<number> {
  throw new OutboxError(EX_UNAVAILABLE, '-bs (SMTP on standard input) is not yet supported');
}
