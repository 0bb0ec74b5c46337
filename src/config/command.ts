/** Placeholder until its issue lands: exits 69 (EX_UNAVAILABLE) with one clear line. */
import { EX_UNAVAILABLE, OutboxError } from '../sysexits.js';
import type { Io } from '../main.js';

export async function command(_args: string[], _io: Io): Promise<number> {
  throw new OutboxError(EX_UNAVAILABLE, 'command: not yet supported');
}
