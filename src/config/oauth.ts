/**
 * config/oauth.ts — built-in OAuth 2.0 for relays that take XOAUTH2 or OAUTHBEARER (Microsoft
 * 365, Google Workspace, any provider with a token endpoint): the provider presets, the token
 * file, access tokens refreshed before they expire, and `outbox oauth login` (the device
 * authorization grant of RFC 8628, Microsoft's client credentials grant, or importing a refresh
 * token obtained elsewhere).
 *
 * The OAuth requests are made by oauth4webapi (panva's certified, dependency-free client), over
 * config/http-fetch.ts (node:https with delivery's CA set), loaded only here, only when a relay
 * uses it: never on the submit path.
 *
 * Token file (`token_file`, default SPOOL/oauth/NAME.json), one JSON object, mode 0600, owned by
 * the user that delivers mail, replaced atomically (temp file, fsync, rename):
 *   {"v":1, "refresh_token":"...", "access_token":"...", "expires_at":<ms>,
 *    "refresh_token_at":<ms, when the refresh token was issued or last rotated>, "updated_at":<ms>}
 * A refresh that rotates the refresh token stores the new one in the same write. Tokens are
 * never logged nor printed.
 *
 * Errors: a refresh refused for good (invalid_grant, invalid_client, unauthorized_client), no
 * token file, or a file others can read are configuration problems of this host (ECONFIG: the
 * mail is held, never bounced, and the message names `outbox oauth login NAME`). A token
 * endpoint that cannot be reached or answers 5xx is temporary (ETOKENTEMP).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { OAuthSettings, RelaySettings } from './types.js';
import { readPasswordFile, runSecretCommand, type SecretContext } from './credentials.js';

/** Endpoints and scopes filled in by `provider`. */
export const PRESETS: Record<'google' | 'microsoft', { token: string; device?: string; scope: string; clientCredentialsScope?: string }> = {
  google: {
    token: 'https://oauth2.googleapis.com/token',
    device: 'https://oauth2.googleapis.com/device/code',
    scope: 'https://mail.google.com/',
  },
  microsoft: {
    token: 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token',
    device: 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode',
    scope: 'https://outlook.office365.com/SMTP.Send offline_access',
    clientCredentialsScope: 'https://outlook.office365.com/.default',
  },
};

/** Refresh this long before the access token expires. */
const EARLY_MS = 60_000;

export interface TokenFile {
  v: 1;
  refresh_token?: string;
  access_token?: string;
  expires_at?: number;
  refresh_token_at?: number;
  updated_at: number;
}

export class OAuthError extends Error {
  constructor(
    message: string,
    /** ECONFIG: held until fixed; ETOKENTEMP: try again later. */
    readonly code: 'ECONFIG' | 'ETOKENTEMP',
  ) {
    super(message);
  }
}

export interface Endpoints {
  tokenUrl: string;
  deviceUrl?: string;
  scope: string;
  grant: 'device' | 'client_credentials';
}

/** The token and device endpoints and the scope of a relay's oauth table. */
export function endpoints(o: OAuthSettings): Endpoints {
  const grant = o.grant ?? 'device';
  const tenant = o.tenant ?? (grant === 'client_credentials' ? undefined : 'organizations');
  const fill = (u: string) => u.replace('{tenant}', encodeURIComponent(tenant ?? ''));
  if (o.provider === 'custom') {
    return { tokenUrl: o.tokenUrl!, ...(o.deviceUrl ? { deviceUrl: o.deviceUrl } : {}), scope: o.scope ?? '', grant };
  }
  const p = PRESETS[o.provider];
  const scope = o.scope ?? (grant === 'client_credentials' ? (p.clientCredentialsScope ?? p.scope) : p.scope);
  const deviceUrl = o.deviceUrl ?? (p.device ? fill(p.device) : undefined);
  return { tokenUrl: o.tokenUrl ?? fill(p.token), ...(deviceUrl ? { deviceUrl } : {}), scope, grant };
}

/** Said after what is wrong as "; fix with: ..." (runner/classify.ts splits reason and fix there). */
function loginHint(relay: RelaySettings): string {
  return `fix with: run "outbox oauth login ${relay.name}"`;
}

export function tokenFilePath(relay: RelaySettings): string {
  return relay.oauth!.tokenFile!;
}

/** Read the token file; null when there is none. Refuses a file others can read. */
export function readTokenFile(relay: RelaySettings): TokenFile | null {
  const file = tokenFilePath(relay);
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new OAuthError(`relay ${relay.name}: token file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'ECONFIG');
  }
  try {
    const st = fs.fstatSync(fd);
    if ((st.mode & 0o077) !== 0) {
      throw new OAuthError(
        `relay ${relay.name}: token file ${file} is readable or writable by others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); fix with: chmod 600 ${file}`,
        'ECONFIG',
      );
    }
    const t = JSON.parse(fs.readFileSync(fd, 'utf8')) as TokenFile;
    if (t.v !== 1) throw new OAuthError(`relay ${relay.name}: token file ${file}: unknown version`, 'ECONFIG');
    return t;
  } catch (e) {
    if (e instanceof OAuthError) throw e;
    throw new OAuthError(`relay ${relay.name}: token file ${file} is not valid (${(e as Error).message}); ${loginHint(relay)}`, 'ECONFIG');
  } finally {
    fs.closeSync(fd);
  }
}

/** Replace the token file atomically (0600, in a 0700 directory made on demand). */
export function writeTokenFile(relay: RelaySettings, t: TokenFile): void {
  const file = tokenFilePath(relay);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp.${process.pid}`;
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
  try {
    fs.writeFileSync(fd, JSON.stringify(t) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  try {
    const dfd = fs.openSync(path.dirname(file), 'r');
    fs.fsyncSync(dfd);
    fs.closeSync(dfd);
  } catch {
    // the rename is done; a directory fsync is best effort here
  }
}

type Lib = typeof import('oauth4webapi');

async function client(relay: RelaySettings, ctx: SecretContext) {
  const lib: Lib = await import('oauth4webapi');
  const o = relay.oauth!;
  const e = endpoints(o);
  const as = { issuer: new URL(e.tokenUrl).origin, token_endpoint: e.tokenUrl, ...(e.deviceUrl ? { device_authorization_endpoint: e.deviceUrl } : {}) };
  const secret = o.clientSecretFile ? readPasswordFile(relay, o.clientSecretFile, ctx) : undefined;
  const auth = secret !== undefined ? lib.ClientSecretPost(secret) : lib.None();
  const insecure = [e.tokenUrl, e.deviceUrl].some((u) => u !== undefined && u.startsWith('http:'));
  const { nodeFetch } = await import('./http-fetch.js');
  const opts = {
    ...(insecure ? { [lib.allowInsecureRequests]: true } : {}),
    [lib.customFetch]: nodeFetch(),
    signal: AbortSignal.timeout(relay.commandTimeoutMs ?? 30_000),
  };
  return { lib, as, c: { client_id: o.clientId }, auth, opts, e };
}

/** Turn a failed token request into our error: refused for good -> ECONFIG, else temporary. */
function tokenFailure(relay: RelaySettings, lib: Lib, err: unknown, what: string): OAuthError {
  if (err instanceof lib.ResponseBodyError) {
    const permanent = ['invalid_grant', 'invalid_client', 'unauthorized_client', 'invalid_scope', 'access_denied', 'expired_token'].includes(err.error);
    const text = `relay ${relay.name}: ${what} refused by the token endpoint (${err.error}${err.error_description ? `: ${err.error_description}` : ''})`;
    return permanent ? new OAuthError(`${text}; ${loginHint(relay)}`, 'ECONFIG') : new OAuthError(text, 'ETOKENTEMP');
  }
  const cause = (err as { cause?: { code?: string } }).cause?.code;
  return new OAuthError(
    `relay ${relay.name}: token endpoint ${endpoints(relay.oauth!).tokenUrl} not reachable (${cause ?? (err as Error).message})`,
    'ETOKENTEMP',
  );
}

/** Refreshes in flight in this process, per relay: parallel connections share one request. */
const inFlight = new Map<string, Promise<string>>();

/**
 * A valid access token for the relay: the stored one while it lasts, else a new one from the
 * refresh token (or the client credentials grant), stored before it is returned. `force`: the
 * relay refused the stored token, get a new one.
 */
export function accessToken(relay: RelaySettings, ctx: SecretContext, opts: { force?: boolean; now?: () => number } = {}): Promise<string> {
  const key = tokenFilePath(relay);
  const running = inFlight.get(key);
  if (running && !opts.force) return running;
  const p = obtain(relay, ctx, opts).finally(() => inFlight.delete(key));
  inFlight.set(key, p);
  return p;
}

async function obtain(relay: RelaySettings, ctx: SecretContext, opts: { force?: boolean; now?: () => number }): Promise<string> {
  const now = opts.now ?? Date.now;
  const stored = readTokenFile(relay);
  // Refresh a minute early (a quarter of the lifetime for short-lived tokens).
  const early = Math.min(EARLY_MS, ((stored?.expires_at ?? 0) - (stored?.updated_at ?? 0)) / 4);
  if (!opts.force && stored?.access_token && (stored.expires_at ?? 0) - early > now()) return stored.access_token;
  const { lib, as, c, auth, opts: ro, e } = await client(relay, ctx);
  let r: Awaited<ReturnType<Lib['processRefreshTokenResponse']>>;
  try {
    if (e.grant === 'client_credentials') {
      r = await lib.processClientCredentialsResponse(as, c, await lib.clientCredentialsGrantRequest(as, c, auth, new URLSearchParams({ scope: e.scope }), ro));
    } else {
      if (!stored?.refresh_token)
        throw new OAuthError(`relay ${relay.name}: no OAuth refresh token yet (${tokenFilePath(relay)}); ${loginHint(relay)}`, 'ECONFIG');
      r = await lib.processRefreshTokenResponse(as, c, await lib.refreshTokenGrantRequest(as, c, auth, stored.refresh_token, ro));
    }
  } catch (err) {
    if (err instanceof OAuthError) throw err;
    throw tokenFailure(relay, lib, err, e.grant === 'client_credentials' ? 'the client credentials grant was' : 'the refresh token was');
  }
  const t = now();
  const rotated = r.refresh_token !== undefined && r.refresh_token !== stored?.refresh_token;
  const next: TokenFile = {
    v: 1,
    ...((r.refresh_token ?? stored?.refresh_token) ? { refresh_token: (r.refresh_token ?? stored?.refresh_token)! } : {}),
    access_token: r.access_token,
    expires_at: t + (r.expires_in ?? 3600) * 1000,
    ...(rotated ? { refresh_token_at: t } : stored?.refresh_token_at !== undefined ? { refresh_token_at: stored.refresh_token_at } : {}),
    updated_at: t,
  };
  writeTokenFile(relay, next);
  return r.access_token;
}

/** What `outbox check` says of a relay's tokens (never the tokens themselves). */
export function tokenState(relay: RelaySettings, now = Date.now()): { ok: boolean; text: string } {
  let t: TokenFile | null;
  try {
    t = readTokenFile(relay);
  } catch (e) {
    return { ok: false, text: (e as Error).message };
  }
  const grant = relay.oauth!.grant ?? 'device';
  if (grant === 'client_credentials') return { ok: true, text: `client credentials grant (${t?.access_token ? 'a token is stored' : 'no token yet'})` };
  if (!t?.refresh_token) return { ok: false, text: `no refresh token; ${loginHint(relay)}` };
  const age = t.refresh_token_at !== undefined ? `, refresh token ${Math.floor((now - t.refresh_token_at) / 86_400_000)} day(s) old` : '';
  const access =
    t.access_token && (t.expires_at ?? 0) > now
      ? `access token valid for ${Math.round(((t.expires_at ?? 0) - now) / 60_000)} min`
      : 'access token expired (refreshed on next use)';
  return { ok: true, text: `${access}${age}` };
}

export interface LoginIo {
  out(text: string): void;
  sleep(ms: number): Promise<void>;
}

/**
 * `outbox oauth login`: the device authorization grant — print where to go and the code, poll
 * until the user has approved — then store the tokens. With `importFile`, the refresh token
 * in that file (first line) is stored instead (a token obtained by another tool).
 */
export async function login(relay: RelaySettings, ctx: SecretContext, io: LoginIo, opts: { importFile?: string; now?: () => number } = {}): Promise<void> {
  const now = opts.now ?? Date.now;
  if (opts.importFile) {
    const token = readPasswordFile(relay, opts.importFile, ctx);
    writeTokenFile(relay, { v: 1, refresh_token: token, refresh_token_at: now(), updated_at: now() });
    await accessToken(relay, ctx, { force: true, now });
    io.out(`relay ${relay.name}: refresh token imported and checked; stored in ${tokenFilePath(relay)}\n`);
    return;
  }
  const { lib, as, c, auth, opts: ro, e } = await client(relay, ctx);
  if (e.grant === 'client_credentials') {
    await accessToken(relay, ctx, { force: true, now });
    io.out(`relay ${relay.name}: client credentials accepted; token stored in ${tokenFilePath(relay)}\n`);
    return;
  }
  if (!e.deviceUrl) throw new OAuthError(`relay ${relay.name}: no device authorization endpoint (set oauth.device_url)`, 'ECONFIG');
  let dev: Awaited<ReturnType<Lib['processDeviceAuthorizationResponse']>>;
  try {
    dev = await lib.processDeviceAuthorizationResponse(as, c, await lib.deviceAuthorizationRequest(as, c, auth, new URLSearchParams({ scope: e.scope }), ro));
  } catch (err) {
    throw tokenFailure(relay, lib, err, 'the device authorization request was');
  }
  io.out(
    `To allow Outbox to send mail as this account, open\n  ${dev.verification_uri}\nand enter the code\n  ${dev.user_code}\n(waiting up to ${Math.round(dev.expires_in / 60)} min)\n`,
  );
  let interval = Math.max(1, dev.interval ?? 5) * 1000;
  const deadline = now() + dev.expires_in * 1000;
  while (now() < deadline) {
    await io.sleep(interval);
    try {
      const r = await lib.processDeviceCodeResponse(as, c, await lib.deviceCodeGrantRequest(as, c, auth, dev.device_code, ro));
      const t = now();
      writeTokenFile(relay, {
        v: 1,
        ...(r.refresh_token ? { refresh_token: r.refresh_token, refresh_token_at: t } : {}),
        access_token: r.access_token,
        expires_at: t + (r.expires_in ?? 3600) * 1000,
        updated_at: t,
      });
      if (!r.refresh_token) io.out(`warning: the provider issued no refresh token (add offline_access to oauth.scope?)\n`);
      io.out(`relay ${relay.name}: signed in; tokens stored in ${tokenFilePath(relay)}\n`);
      return;
    } catch (err) {
      if (err instanceof lib.ResponseBodyError && err.error === 'authorization_pending') continue;
      if (err instanceof lib.ResponseBodyError && err.error === 'slow_down') {
        interval += 5000;
        continue;
      }
      throw tokenFailure(relay, lib, err, 'the sign-in was');
    }
  }
  throw new OAuthError(`relay ${relay.name}: the code was not approved in time; run the command again`, 'ECONFIG');
}

/**
 * The XOAUTH2/OAUTHBEARER access token of a relay, for delivery and `outbox check` alike: from the
 * built-in OAuth client above (`force`: the relay refused the last one) or from
 * oauth_token_command; undefined when the relay has neither. It lives here, not in
 * credentials.ts, so that credentials.ts never loads this module (no import circle).
 */
export async function resolveOauthToken(relay: RelaySettings, ctx: SecretContext, opts: { force?: boolean } = {}): Promise<string | undefined> {
  if (relay.oauth) return accessToken(relay, ctx, opts);
  if (!relay.oauthTokenCommand) return undefined;
  return runSecretCommand(relay, 'oauth_token_command', relay.oauthTokenCommand, ctx);
}
