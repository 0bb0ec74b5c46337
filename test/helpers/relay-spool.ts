/**
 * test/helpers/relay-spool.ts — the set-up most delivery tests share: a scripted relay
 * (relay.ts), a temporary spool (run.ts) with a password file only its owner may read, and the
 * environment that names them (OUTBOX_RELAY, its password file and CA). Both are removed by the
 * cleanup function the caller registers them with.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startRelay, type RelayOptions, type TestRelay } from './relay.js';
import { tempSpool, type TempSpool } from './run.js';

export interface RelayAndSpool {
  relay: TestRelay;
  t: TempSpool;
  /** The password file (secret, mode 0600). */
  pw: string;
  /** t.env plus OUTBOX_RELAY, OUTBOX_RELAY_PASSWORD_FILE and OUTBOX_RELAY_CA for this relay. */
  env: Record<string, string>;
}

export async function relayAndSpool(register: (cleanup: () => void | Promise<void>) => void, prefix: string, opts: RelayOptions = {}): Promise<RelayAndSpool> {
  const relay = await startRelay(opts);
  const t = tempSpool(prefix);
  register(() => relay.close());
  register(() => t.cleanup());
  const pw = path.join(t.dir, 'password');
  fs.writeFileSync(pw, 'secret\n', { mode: 0o600 });
  return { relay, t, pw, env: { ...t.env, OUTBOX_RELAY: relay.url(), OUTBOX_RELAY_PASSWORD_FILE: pw, OUTBOX_RELAY_CA: relay.caFile } };
}
