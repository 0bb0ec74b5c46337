/**
 * A real OAuth 2.0 authorization server for the tests: oidc-provider (a certified OpenID
 * Connect / OAuth 2.0 server) on 127.0.0.1, with the device authorization grant, rotating
 * refresh tokens and short-lived access tokens, plus the browser a user would use to approve a
 * device code (approve()), and a way to check a token as a relay would (valid()).
 *
 * Also teaches smtp-server OAUTHBEARER (RFC 7628), which it lacks: the GS2 header and the
 * ^A-separated fields are parsed here and handed to the relay's onAuth like XOAUTH2's.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import SASL from 'smtp-server/lib/sasl.js';

export interface OAuthServer {
  issuer: string;
  tokenUrl: string;
  deviceUrl: string;
  /** Token endpoint requests seen (refreshes and device polls). */
  tokenRequests: { grant: string; status: number }[];
  /** Act as the user: open the verification page, enter the code, sign in, consent. */
  approve(verificationUri: string, userCode: string): Promise<void>;
  /** The relay's check: is this a live access token of this server? */
  valid(token: string): Promise<boolean>;
  /** Revoke every grant (the user removed the app, or a policy change). */
  revokeAll(): Promise<void>;
  /** Stop answering (the token endpoint is down) and come back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export const CLIENT_ID = 'outbox-test';
export const APP_CLIENT_ID = 'outbox-app';
export const APP_CLIENT_SECRET = 'app-secret-for-tests';

export async function startOAuthServer(opts: { accessTokenTtl?: number } = {}): Promise<OAuthServer> {
  // The port is needed before the provider exists (it is the issuer): take a free one first.
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const issuer = `http://127.0.0.1:${port}`;
  const grants = new Set<string>();
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'none',
      },
      {
        // An application with its own secret (Microsoft's client credentials grant, app-only).
        client_id: APP_CLIENT_ID,
        client_secret: APP_CLIENT_SECRET,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_post',
        scope: 'smtp',
      },
    ],
    features: { deviceFlow: { enabled: true }, devInteractions: { enabled: true }, revocation: { enabled: true }, clientCredentials: { enabled: true } },
    scopes: ['openid', 'offline_access', 'smtp'],
    issueRefreshToken: async () => true,
    rotateRefreshToken: true,
    ttl: {
      AccessToken: opts.accessTokenTtl ?? 3600,
      ClientCredentials: opts.accessTokenTtl ?? 3600,
      DeviceCode: 600,
      RefreshToken: 86400,
      Grant: 86400,
      Interaction: 600,
      Session: 600,
      IdToken: 600,
    },
    findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: async () => ({ sub: id }) }),
  } as never);
  const tokenRequests: { grant: string; status: number }[] = [];
  provider.on('grant.success', (ctx: { oidc: { params?: { grant_type?: string } } }) =>
    tokenRequests.push({ grant: String(ctx.oidc.params?.grant_type), status: 200 }),
  );
  provider.on('grant.error', (ctx: { oidc?: { params?: { grant_type?: string } } }) =>
    tokenRequests.push({ grant: String(ctx.oidc?.params?.grant_type), status: 400 }),
  );
  provider.on('grant.saved', (g: { jti: string }) => grants.add(g.jti));
  const handler = provider.callback();
  let server: http.Server | null = null;
  const start = async () => {
    server = http.createServer(handler);
    await new Promise<void>((r) => server!.listen(port, '127.0.0.1', r));
  };
  const stop = async () => {
    const s = server;
    server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  };
  await start();

  async function approve(verificationUri: string, userCode: string): Promise<void> {
    const jar = new Map<string, string>();
    const req = async (url: string, init: RequestInit = {}) => {
      const res = await fetch(new URL(url, issuer), {
        ...init,
        redirect: 'manual',
        headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
      });
      for (const c of res.headers.getSetCookie()) {
        const [kv] = c.split(';');
        const i = kv!.indexOf('=');
        jar.set(kv!.slice(0, i), kv!.slice(i + 1));
      }
      return res;
    };
    let res = await req(verificationUri);
    // Bounded: the pages are code entry, confirmation, sign-in and consent, with redirects between.
    for (let step = 0; step < 16; step++) {
      if (res.status >= 300 && res.status < 400) {
        res = await req(res.headers.get('location')!);
        continue;
      }
      const html = await res.text();
      const form = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/.exec(html);
      if (!form) {
        if (/Sign-in Success/.test(html)) return;
        throw new Error(`approve: unexpected page (${res.status}): ${html.replace(/<[^>]+>/g, ' ').slice(0, 200)}`);
      }
      const fields: Record<string, string> = {};
      for (const m of form[2]!.matchAll(/<(input|button)([^>]*)>/g)) {
        const name = /name="([^"]+)"/.exec(m[2]!)?.[1];
        if (!name || name === 'abort' || name in fields) continue;
        fields[name] = /value="([^"]*)"/.exec(m[2]!)?.[1] ?? '';
      }
      if ('user_code' in fields) fields.user_code = userCode;
      if ('login' in fields) fields.login = 'me@example.com';
      if ('password' in fields) fields.password = 'anything';
      res = await req(form[1]!, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString(),
      });
    }
    throw new Error('approve: too many steps');
  }

  return {
    issuer,
    tokenUrl: `${issuer}/token`,
    deviceUrl: `${issuer}/device/auth`,
    tokenRequests,
    approve,
    async valid(token) {
      const at = (await provider.AccessToken.find(token)) ?? (await provider.ClientCredentials.find(token));
      return Boolean(at && !at.isExpired);
    },
    async revokeAll() {
      for (const jti of grants) {
        const g = await provider.Grant.find(jti);
        if (g) await g.destroy();
      }
      // Refresh tokens belong to a grant: oidc-provider refuses them once the grant is gone.
    },
    stop,
    start,
    close: stop,
  };
}

/** smtp-server has no OAUTHBEARER: add it, reusing its XOAUTH2 handling of the onAuth reply. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const sasl = SASL as unknown as Record<string, (this: any, ...a: unknown[]) => unknown>;
if (!sasl.SASL_OAUTHBEARER) {
  sasl.SASL_OAUTHBEARER = function (this: { send(code: number, text?: string): void; _nextHandler: unknown }, args: unknown, callback: unknown) {
    const list = args as string[];
    const cb = callback as () => void;
    if (list.length !== 1) {
      this.send(501, 'Error: syntax: AUTH OAUTHBEARER token');
      return cb();
    }
    // n,a=user,^Ahost=..^Aport=..^Aauth=Bearer TOKEN^A^A  ->  XOAUTH2's user=..^Aauth=Bearer TOKEN^A^A
    const text = Buffer.from(list[0]!, 'base64').toString();
    const [gs2, ...fields] = text.split('\x01');
    const user =
      /(?:^|,)a=([^,]*)/
        .exec(gs2 ?? '')?.[1]
        ?.replace(/=2C/g, ',')
        .replace(/=3D/g, '=') ?? '';
    const auth = fields.find((f) => f.startsWith('auth=')) ?? '';
    const xoauth = Buffer.from(`user=${user}\x01${auth}\x01\x01`).toString('base64');
    return sasl.XOAUTH2_token!.call(this, false, xoauth, cb);
  };
}
