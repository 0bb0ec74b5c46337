/**
 * config/keys.ts — every key of the configuration file, as data: one row per key with the name it
 * gets in FileSettings and the form its value must have (config/reader.ts checks a value against
 * its row). TOP is the top level, RELAY [relay.NAME], OAUTH [relay.NAME.oauth], ROUTE_KEYS
 * [[route]], DELIVERY [delivery], LISTENER [listener], SENDER_KEYS [sender_table]; KNOWN_KEYS
 * lists them all, for "did you mean" across sections and for the outbox.conf(5) test.
 */
import type { AuthMechanism } from './types.js';
import { LIMIT_PRESET_NAMES } from './limits.js';

export type Spec =
  | { kind: 'string' }
  | { kind: 'path' }
  | { kind: 'domain' }
  | { kind: 'address' }
  | { kind: 'integer'; min?: number }
  | { kind: 'number'; min: number; max: number }
  | { kind: 'duration' }
  | { kind: 'durations' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'boolean' }
  | { kind: 'strings'; item: 'string' | 'domain' | 'relay' | 'hostport' | 'fingerprint' | 'domainpattern' | 'senderpattern' };

export interface Row {
  key: string;
  spec: Spec;
}

const row = (key: string, spec: Spec): Row => ({ key, spec });

/** Top level keys (besides the [relay], [[route]], [delivery], [listener], [sender_table] tables). */
export const TOP: Record<string, Row> = {
  hostname: row('hostname', { kind: 'domain' }),
  domain: row('domain', { kind: 'domain' }),
  spool: row('spool', { kind: 'path' }),
  delivery: row('delivery', { kind: 'enum', values: ['background', 'queue', 'interactive'] }),
  max_message_size: row('maxMessageSize', { kind: 'integer' }),
  orphan_grace_seconds: row('orphanGraceSeconds', { kind: 'integer' }),
  lock_stale_ms: row('lockStaleMs', { kind: 'integer', min: 1000 }),
  max_pending_per_user: row('maxPendingPerUser', { kind: 'integer', min: 0 }),
  max_queued_messages_per_user: row('maxQueuedMessagesPerUser', { kind: 'integer', min: 0 }),
  max_queued_bytes_per_user: row('maxQueuedBytesPerUser', { kind: 'integer', min: 0 }),
  default_relay: row('defaultRelay', { kind: 'string' }),
  aliases: row('aliasesFile', { kind: 'path' }),
  local_domains: row('localDomains', { kind: 'strings', item: 'domain' }),
  masquerade: row('masquerade', { kind: 'domain' }),
  postmaster: row('postmaster', { kind: 'address' }),
};
export const TABLES = ['relay', 'route', 'listener', 'sender_table'];

export const AUTH_MECHANISMS: readonly AuthMechanism[] = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2', 'OAUTHBEARER'];

export const OAUTH: Record<string, Row> = {
  provider: row('provider', { kind: 'enum', values: ['google', 'microsoft', 'custom'] }),
  client_id: row('clientId', { kind: 'string' }),
  client_secret_file: row('clientSecretFile', { kind: 'path' }),
  tenant: row('tenant', { kind: 'string' }),
  token_url: row('tokenUrl', { kind: 'string' }),
  device_url: row('deviceUrl', { kind: 'string' }),
  scope: row('scope', { kind: 'string' }),
  token_file: row('tokenFile', { kind: 'path' }),
  grant: row('grant', { kind: 'enum', values: ['device', 'client_credentials'] }),
};

export const RELAY: Record<string, Row> = {
  url: row('url', { kind: 'string' }),
  password: row('password', { kind: 'string' }),
  password_file: row('passwordFile', { kind: 'path' }),
  password_command: row('passwordCommand', { kind: 'string' }),
  password_env: row('passwordEnv', { kind: 'string' }),
  password_command_timeout: row('passwordCommandTimeoutMs', { kind: 'duration' }),
  oauth_token_command: row('oauthTokenCommand', { kind: 'string' }),
  auth: row('authMechanism', { kind: 'enum', values: AUTH_MECHANISMS }),
  ca_file: row('caFile', { kind: 'path' }),
  fingerprint: row('fingerprints', { kind: 'strings', item: 'fingerprint' }),
  client_cert: row('clientCert', { kind: 'path' }),
  client_key: row('clientKey', { kind: 'path' }),
  ehlo_name: row('ehloName', { kind: 'domain' }),
  connect_timeout: row('connectTimeoutMs', { kind: 'duration' }),
  greeting_timeout: row('greetingTimeoutMs', { kind: 'duration' }),
  command_timeout: row('commandTimeoutMs', { kind: 'duration' }),
  data_timeout: row('dataTimeoutMs', { kind: 'duration' }),
  max_connections: row('maxConnections', { kind: 'integer', min: 1 }),
  fallbacks: row('fallbacks', { kind: 'strings', item: 'relay' }),
  force_sender: row('forceSender', { kind: 'address' }),
  login_sender: row('loginSender', { kind: 'boolean' }),
  limits: row('limits', { kind: 'enum', values: LIMIT_PRESET_NAMES }),
  rate: row('rate', { kind: 'string' }),
  daily_messages: row('dailyMessages', { kind: 'integer', min: 1 }),
  daily_recipients: row('dailyRecipients', { kind: 'integer', min: 1 }),
};

export const ROUTE_KEYS = ['domain', 'sender', 'from', 'relay'];

export const DELIVERY: Record<string, Row> = {
  mode: row('mode', { kind: 'enum', values: ['background', 'queue', 'interactive'] }),
  retry_schedule: row('retryScheduleMs', { kind: 'durations' }),
  retry_jitter: row('retryJitter', { kind: 'number', min: 0, max: 1 }),
  max_queue_lifetime: row('maxQueueLifetimeMs', { kind: 'duration' }),
  delay_warning: row('delayWarningMs', { kind: 'duration' }),
  bounce_size_limit: row('bounceSizeLimit', { kind: 'integer' }),
  max_parallel: row('maxParallel', { kind: 'integer', min: 1 }),
  scan_interval: row('scanIntervalMs', { kind: 'duration' }),
  linger: row('lingerMs', { kind: 'duration' }),
};

export const LISTENER: Record<string, Row> = {
  listen: row('listen', { kind: 'strings', item: 'hostport' }),
  auth_users_file: row('authUsersFile', { kind: 'path' }),
  tls_cert: row('tlsCert', { kind: 'path' }),
  tls_key: row('tlsKey', { kind: 'path' }),
  max_clients: row('maxClients', { kind: 'integer', min: 1 }),
  idle_timeout: row('idleTimeoutMs', { kind: 'duration' }),
  sender_login_match: row('senderLoginMatch', { kind: 'enum', values: ['remote', 'always', 'never'] }),
};

export const SENDER_KEYS = ['from', 'reply_to'];

/** Every key the file may hold, with its section, for "did you mean" across sections. */
export const KNOWN_KEYS = {
  top: [...Object.keys(TOP), ...TABLES],
  relay: Object.keys(RELAY),
  route: ROUTE_KEYS,
  delivery: Object.keys(DELIVERY),
  listener: Object.keys(LISTENER),
  oauth: ['oauth', ...Object.keys(OAUTH)],
  sender: SENDER_KEYS,
};
