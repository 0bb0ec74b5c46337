/**
 * relay/env.ts — the environment's relay (OUTBOX_RELAY*), built in one place for every caller:
 * delivery (runner/setup.ts, runner/daemon.ts), `outbox check`, `outbox config check` and
 * `newaliases`. So they all trim, validate and merge it alike.
 *
 *   OUTBOX_RELAY                 the relay URL (relay/url.ts); it becomes the relay named "env"
 *                                and the default relay
 *   OUTBOX_RELAY_PASSWORD_FILE   a file holding the password (read by config/credentials.ts,
 *                                under the same rules as the file's password_file)
 *   OUTBOX_RELAY_CA              a CA file trusted in addition to the system's (relay/tls.ts)
 *   OUTBOX_RELAY_FORCE_SENDER    force_sender: every sender goes out as this address
 *   OUTBOX_RELAY_LOGIN_SENDER    login_sender: yes (default) / no, the login-address rule
 *                                (plan/rewrite.ts)
 * The password has only the file form: a variable's value would show in `ps e`, as a password
 * in the URL would.
 *
 * Pure, and cheap: relayConfigured() is on the submit path, so this loads no SMTP client and no
 * TLS. Throws OutboxError(EX_CONFIG) with one line naming the variable and what to fix.
 */
import { EX_CONFIG, OutboxError } from '../sysexits.js';
import type { Config } from '../config/config.js';
import type { RelaySettings } from '../config/types.js';
import { isMailbox } from '../message/address.js';
import { checkRelayUrl } from './url.js';

/** Is there a relay to deliver to (OUTBOX_RELAY or a [relay.NAME] table)? */
/** How to name a relay when there is none: one wording for delivery, queue runs and -bv. */
export const NO_RELAY_FIX =
  'set OUTBOX_RELAY=smtp+starttls://user@host:587 (and OUTBOX_RELAY_PASSWORD_FILE), or add a [relay.NAME] table to the configuration file';

export function relayConfigured(config: Config, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.OUTBOX_RELAY?.trim()) || Object.keys(config.relays ?? {}).length > 0;
}

/** A yes/no variable: undefined when unset; throws EX_CONFIG for anything else. */
function envSwitch(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const v = env[name]?.trim().toLowerCase();
  if (!v) return undefined;
  if (['yes', 'true', 'on', '1'].includes(v)) return true;
  if (['no', 'false', 'off', '0'].includes(v)) return false;
  throw new OutboxError(EX_CONFIG, `${name}: expected yes or no, not ${JSON.stringify(env[name])}`);
}

/** The relay given by OUTBOX_RELAY*, or null. Validates the URL and the other variables at once. */
export function relayFromEnv(env: NodeJS.ProcessEnv): RelaySettings | null {
  const url = env.OUTBOX_RELAY?.trim();
  if (!url) return null;
  const u = checkRelayUrl(url);
  if ('error' in u) throw new OutboxError(EX_CONFIG, `OUTBOX_RELAY: ${u.error}`);
  const force = env.OUTBOX_RELAY_FORCE_SENDER?.trim();
  if (force && !isMailbox(force)) throw new OutboxError(EX_CONFIG, `OUTBOX_RELAY_FORCE_SENDER: must be an address user@domain, not ${JSON.stringify(force)}`);
  const loginSender = envSwitch(env, 'OUTBOX_RELAY_LOGIN_SENDER');
  return {
    name: 'env',
    url,
    ...(env.OUTBOX_RELAY_PASSWORD_FILE ? { passwordFile: env.OUTBOX_RELAY_PASSWORD_FILE } : {}),
    ...(env.OUTBOX_RELAY_CA ? { caFile: env.OUTBOX_RELAY_CA } : {}),
    ...(force ? { forceSender: force } : {}),
    ...(loginSender !== undefined ? { loginSender } : {}),
  };
}

/**
 * The configuration with the environment's relay merged in (relays, defaultRelay): it is named
 * "env" and becomes the default relay (a container's environment wins over a file baked into
 * the image); routes naming other relays still apply (plan/routing.ts).
 */
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

/** The relays of a merged configuration (relaysFor), the environment's first: the order check and config check report them in. */
export function relayList(merged: Config): RelaySettings[] {
  return Object.values(merged.relays ?? {}).sort((a, b) => Number(b.name === 'env') - Number(a.name === 'env'));
}
