/**
 * relay/env.ts — is there a relay to deliver to? (Cheap: used on the submit path, so it
 * must not import the relay parser or the SMTP client.) The relay comes from OUTBOX_RELAY or the
 * configuration file's [relay.NAME] tables; src/relay/relay.ts parses them.
 */
import type { Config } from '../config/config.js';

export function relayConfigured(config: Config, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.OUTBOX_RELAY?.trim()) || Object.keys(config.relays ?? {}).length > 0;
}
