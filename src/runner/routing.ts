/**
 * runner/routing.ts — the relays a run can use. Pure.
 *
 * relaysFor() merges the OUTBOX_RELAY* environment into the configuration: the environment's
 * relay is named "env" and becomes the default relay (a container's environment wins over a
 * file baked into the image); routes naming other relays still apply. Which relay each
 * recipient goes to is decided by plan/routing.ts (through plan/rewrite.ts planDelivery).
 * Throws OutboxError(EX_CONFIG) for a bad OUTBOX_RELAY URL.
 */
import type { Config } from '../config/config.js';
import type { RelaySettings } from '../config/types.js';
import { relayFromEnv } from '../relay/relay.js';

/** The configuration with the environment's relay merged in (relays, defaultRelay). */
export function relaysFor(config: Config, env: NodeJS.ProcessEnv = process.env): Config {
  const fromEnv = relayFromEnv(env);
  const relays: Record<string, RelaySettings> = { ...(config.relays ?? {}) };
  let defaultRelay = config.defaultRelay;
  if (fromEnv) {
    // Settings of a file relay named "env" (timeouts, pins) are kept; the URL and secrets given
    // in the environment override it.
    relays.env = { ...(relays.env ?? {}), ...fromEnv };
    defaultRelay = 'env';
  }
  if (!defaultRelay || !relays[defaultRelay]) defaultRelay = Object.keys(relays)[0];
  return { ...config, relays, ...(defaultRelay ? { defaultRelay } : {}) };
}
