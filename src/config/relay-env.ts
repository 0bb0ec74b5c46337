/**
 * config/relay-env.ts — is there a relay to deliver to? (Cheap: used on the submit path.)
 * The relay comes from OUTBOX_RELAY or the configuration file (see config/file.ts).
 */
import type { Config } from './config.js';

export function relayConfigured(config: Config, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.OUTBOX_RELAY) || Boolean((config as { relays?: unknown }).relays);
}
