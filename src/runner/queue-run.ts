/** Placeholder until the delivery issue lands: -q exits 69 (EX_UNAVAILABLE). */
import { EX_UNAVAILABLE, OutboxError } from '../sysexits.js';
import type { Io } from '../main.js';
import type { Mode } from '../cli/flags.js';
import type { Config } from '../config/config.js';

export async function runQueue(_mode: Extract<Mode, { kind: 'queue-run' }>, _config: Config, _io: Io): Promise<number> {
  throw new OutboxError(EX_UNAVAILABLE, '-q (queue runs) is not yet supported');
}
