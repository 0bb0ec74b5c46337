/**
 * runner/routing.ts — which relay handles a recipient. Pure.
 *
 * relaysFor() merges the OUTBOX_RELAY* environment into the configuration: the environment's
 * relay is named "env" and becomes the default relay (a container's environment wins over a
 * file baked into the image); routes naming other relays still apply.
 *
 * routeRecipient(config, envelopeSender, recipient) has one fixed signature so that the
 * configuration issue can replace it: the first matching route wins (a route may match the
 * recipient's domain, "example.com" exactly or ".example.com" for subdomains, and/or the
 * envelope sender, "user@example.com" or "@example.com"); a route to "hold" keeps the message
 * queued; otherwise the default relay. Throws OutboxError(EX_CONFIG) when no relay exists.
 */
import { EX_CONFIG, OutboxError } from '../sysexits.js';
import type { Config } from '../config/config.js';
import type { RelaySettings, RouteRule } from '../config/types.js';
import { relayFromEnv } from '../config/relay.js';

export type Route = { relay: string } | { hold: true };

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

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase();
}

export function routeMatches(rule: RouteRule, envelopeSender: string, recipient: string): boolean {
  if (rule.recipientDomain !== undefined) {
    const want = rule.recipientDomain.toLowerCase();
    const d = domainOf(recipient);
    const ok = want.startsWith('.') ? d.endsWith(want) : d === want;
    if (!ok) return false;
  }
  if (rule.sender !== undefined) {
    const want = rule.sender.toLowerCase();
    const s = envelopeSender.toLowerCase();
    const ok = want.startsWith('@') ? s.endsWith(want) : s === want;
    if (!ok) return false;
  }
  return rule.recipientDomain !== undefined || rule.sender !== undefined;
}

export function routeRecipient(config: Config, envelopeSender: string, recipient: string): Route {
  for (const rule of config.routes ?? []) {
    if (!routeMatches(rule, envelopeSender, recipient)) continue;
    if (rule.relay === 'hold') return { hold: true };
    if (!config.relays?.[rule.relay]) {
      throw new OutboxError(EX_CONFIG, `route to unknown relay "${rule.relay}"`);
    }
    return { relay: rule.relay };
  }
  if (!config.defaultRelay || !config.relays?.[config.defaultRelay]) {
    throw new OutboxError(EX_CONFIG, 'no relay configured: set OUTBOX_RELAY=smtp+starttls://user@host:587 (and OUTBOX_RELAY_PASSWORD_FILE), or add a [relay.NAME] table to the configuration file');
  }
  return { relay: config.defaultRelay };
}
