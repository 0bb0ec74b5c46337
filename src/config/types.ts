/**
 * config/types.ts — the shapes of configuration shared by several modules.
 *
 * config/file.ts fills them from the TOML file, relay/env.ts from the OUTBOX_RELAY*
 * environment variables; the runner, the SMTP listener and `outbox check` read them.
 * Durations are milliseconds, sizes bytes.
 */

export type AuthMechanism = 'PLAIN' | 'LOGIN' | 'CRAM-MD5' | 'XOAUTH2' | 'OAUTHBEARER';

/** Built-in OAuth 2.0 ([relay.NAME.oauth]; see config/oauth.ts). */
export interface OAuthSettings {
  provider: 'google' | 'microsoft' | 'custom';
  clientId: string;
  /** Confidential clients: the client secret (same permission rules as password_file). */
  clientSecretFile?: string;
  /** Microsoft: the tenant (default "organizations"; required for client_credentials). */
  tenant?: string;
  tokenUrl?: string;
  deviceUrl?: string;
  scope?: string;
  /** Where the tokens live (default SPOOL/oauth/NAME.json, filled in by loadConfig). */
  tokenFile?: string;
  /** "device" (default: refresh tokens from `outbox oauth login`) or "client_credentials". */
  grant?: 'device' | 'client_credentials';
}

export interface RelaySettings {
  /** Name of the relay ([relay.NAME] in the file; "env" for OUTBOX_RELAY). */
  name: string;
  /** smtp+starttls://user@host:587 (default), smtps://user@host:465, smtp://host:25 (plain, never AUTH). */
  url: string;
  /** Where the password comes from (at most one): a file, a command, an environment variable, or inline. */
  passwordFile?: string;
  passwordCommand?: string;
  passwordEnv?: string;
  password?: string;
  /** How long password_command / oauth_token_command may run before it is killed (default 10 s). */
  passwordCommandTimeoutMs?: number;
  /** XOAUTH2: command that prints an access token. */
  oauthTokenCommand?: string;
  /** XOAUTH2 / OAUTHBEARER with tokens Outbox obtains and refreshes itself. */
  oauth?: OAuthSettings;
  authMechanism?: AuthMechanism;
  /** Extra CA file trusted in addition to the system's. */
  caFile?: string;
  /** SHA-256 fingerprints of the server certificate (hex, colons optional); any match pins. */
  fingerprints?: string[];
  clientCert?: string;
  clientKey?: string;
  ehloName?: string;
  connectTimeoutMs?: number;
  greetingTimeoutMs?: number;
  commandTimeoutMs?: number;
  dataTimeoutMs?: number;
  maxConnections?: number;
  /** Names of relays tried in order on connection, TLS or timeout failures. */
  fallbacks?: string[];
  /** Rewrite envelope sender and From: to this address (Gmail/SES style accounts). */
  forceSender?: string;
  /**
   * The login-address rule (plan/rewrite.ts): when the login (URL user) is an email address,
   * local senders go out as that address. Default true; false sends every sender unchanged.
   */
  loginSender?: boolean;
  /** Sending limits (config/limits.ts): a preset, then the keys below override it. */
  limits?: 'gmail' | 'workspace' | 'microsoft365' | 'ses-sandbox';
  /** Messages per time, "30/min", "1/s": a smooth spacing shared by every runner of the spool. */
  rate?: string;
  /** Messages / recipients over a rolling 24 hours (counted in the spool). */
  dailyMessages?: number;
  dailyRecipients?: number;
  /** Line of the [relay.NAME] header in the file, for diagnostics (absent for OUTBOX_RELAY). */
  line?: number;
}

export interface DeliverySettings {
  /** Retry delays after the 1st, 2nd, ... failed attempt; the last repeats. */
  retryScheduleMs?: number[];
  /** Random spread added to each retry, as a fraction (0.1 = up to 10%). */
  retryJitter?: number;
  /** Give up and bounce after this long in the queue. */
  maxQueueLifetimeMs?: number;
  /** Send a delay warning after this long (0 = never). */
  delayWarningMs?: number;
  /** Largest original message returned whole in a bounce. */
  bounceSizeLimit?: number;
  /** Parallel SMTP connections of one queue run, over all relays. */
  maxParallel?: number;
  /** Periodic queue scan of the daemon (safety net behind the directory watch). */
  scanIntervalMs?: number;
  /** How long the runner a background kick starts stays for more mail (0 = leave when done). */
  lingerMs?: number;
}

/** A route: which relay handles a recipient domain or a sender. */
export interface RouteRule {
  /** Exact domain ("example.com") or subdomains (".example.com"). */
  recipientDomain?: string;
  /** Envelope sender address or "@domain" (sender-dependent relay). */
  sender?: string;
  /** From: header address or "@domain" (sender-dependent relay by header). */
  from?: string;
  /** Relay name, or "hold" to keep matching messages in the queue. */
  relay: string;
  /** Line of the [[route]] entry in the file, for diagnostics (-bv). */
  line?: number;
}

/** Per-correspondent sender: mail to `recipient` goes out with this From: (and Reply-To:). */
export interface SenderTableEntry {
  /** Recipient address, or "@domain" for a whole domain. */
  recipient: string;
  /** Address (optionally with a display name, "Name <a@x>") used as envelope sender and From:. */
  from: string;
  /** Reply-To: to set (replaces any existing one). */
  replyTo?: string;
}

export interface ListenerSettings {
  /** host:port pairs, e.g. "127.0.0.1:10587", "[::1]:587". */
  listen: string[];
  /** File of user:hash lines; enables AUTH (only after STARTTLS). */
  authUsersFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  maxClients?: number;
  idleTimeoutMs?: number;
  /** Authenticated clients must use a MAIL FROM they own: "remote" (non-loopback clients, the default), "always", "never". */
  senderLoginMatch?: 'remote' | 'always' | 'never';
}
