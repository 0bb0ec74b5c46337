/** Placeholder until the configuration issue lands: newaliases and -bv exit 69 (EX_UNAVAILABLE). */
import { EX_UNAVAILABLE, OutboxError } from '../sysexits.js';
import type { Io } from '../main.js';
import type { Config } from '../config/config.js';

export async function newaliases(_config: Config, _io: Io): Promise<number> {
  throw new OutboxError(EX_UNAVAILABLE, 'newaliases is not yet supported');
}

export async function verifyAddresses(_addresses: string[], _config: Config, _io: Io): Promise<number> {
  throw new OutboxError(EX_UNAVAILABLE, '-bv (address verification) is not yet supported');
}
