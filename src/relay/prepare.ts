/**
 * relay/prepare.ts — a relay made ready to connect to, once per run: its URL parsed
 * (relay/relay.ts), its secret read (config/credentials.ts), its TLS context built (relay/tls.ts).
 * Delivery prepares with prepareRelay(); `outbox check` (relay/probe.ts) builds the same shape
 * itself, since it reports each of these steps instead of stopping at the first problem.
 * Rejects with a configFailure (ECONFIG, relay/errors.ts) when the settings cannot be used.
 * Next: relay/connect.ts opens a connection to a prepared relay.
 */
import type * as tls from 'node:tls';
import type { RelaySettings } from '../config/types.js';
import { describeEndpoint, parseRelayUrl, type RelayEndpoint } from './relay.js';
import { resolveSecret } from '../config/credentials.js';
import { resolveOauthToken } from '../config/oauth.js';
import { relayPins, relaySecureContext } from './tls.js';
import { configFailure } from './errors.js';

/** A relay ready to connect to: URL parsed, secret read, TLS context built (once per run). */
export interface PreparedRelay {
  settings: RelaySettings;
  endpoint: RelayEndpoint;
  password?: string;
  secureContext?: tls.SecureContext;
  pins: string[];
  /** XOAUTH2: fetch an access token (runs oauth_token_command). */
  oauthToken?: (force?: boolean) => Promise<string>;
  /** host:port for messages before we know the address. */
  label: string;
}

/** The relay authenticates with an OAuth access token (built-in, or oauth_token_command). */
export function usesOauth(s: RelaySettings): boolean {
  return Boolean(s.oauthTokenCommand || s.oauth);
}

/**
 * Prepare a relay; rejects with a configFailure (ECONFIG) when its settings cannot be used.
 * Secrets: one reader for every relay, config/credentials.ts (password_file — for the OUTBOX_RELAY
 * relay that is OUTBOX_RELAY_PASSWORD_FILE —, password_command, password_env, oauth_token_command).
 */
export async function prepareRelay(settings: RelaySettings, env: NodeJS.ProcessEnv = process.env, configFile: string | null = null): Promise<PreparedRelay> {
  let endpoint: RelayEndpoint;
  let password: string | undefined;
  const ctx = { configFile, env };
  try {
    endpoint = parseRelayUrl(settings.url, `relay ${settings.name}`);
    if (endpoint.user !== undefined && !usesOauth(settings)) password = await resolveSecret(settings, ctx);
  } catch (e) {
    throw configFailure((e as Error).message);
  }
  const label = describeEndpoint(endpoint);
  if (endpoint.user !== undefined && password === undefined && !usesOauth(settings)) {
    throw configFailure(
      `relay ${settings.name}: user "${endpoint.user}" but no password: set OUTBOX_RELAY_PASSWORD_FILE (or password_file / password_command)`,
    );
  }
  let secureContext: tls.SecureContext | undefined;
  if (endpoint.scheme !== 'smtp') {
    try {
      secureContext = relaySecureContext(settings);
    } catch (e) {
      throw configFailure(`relay ${settings.name}: ${(e as Error).message}`);
    }
  }
  const oauthToken = usesOauth(settings) ? async (force?: boolean) => (await resolveOauthToken(settings, ctx, { force: force ?? false })) ?? '' : undefined;
  return {
    settings,
    endpoint,
    ...(password !== undefined ? { password } : {}),
    ...(secureContext ? { secureContext } : {}),
    ...(oauthToken ? { oauthToken } : {}),
    pins: relayPins(settings),
    label,
  };
}
