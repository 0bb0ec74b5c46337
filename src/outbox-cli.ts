/**
 * outbox-cli.ts — the `outbox <command>` commands (commander; loaded only for these).
 */
import { EX_UNAVAILABLE, OutboxError } from './sysexits.js';
import type { Io } from './main.js';

export async function outboxCommand(args: string[], _io: Io): Promise<number> {
  throw new OutboxError(EX_UNAVAILABLE, `${args[0]}: not yet supported`);
}
