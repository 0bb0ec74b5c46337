/**
 * relay/auth.ts — how Outbox logs in to a relay, for delivery and `outbox check` alike
 * (relay/connect.ts passes these to nodemailer's login):
 *   - a password: the relay's auth_mechanism, else the first mechanism the relay offers that
 *     nodemailer can run (PLAIN, LOGIN, CRAM-MD5);
 *   - an OAuth access token (built-in OAuth or oauth_token_command): XOAUTH2 (Google,
 *     Microsoft) or OAUTHBEARER (RFC 7628), a token the relay refuses being replaced once by a
 *     freshly refreshed one (built-in OAuth only).
 * Our own token failures keep their code (ECONFIG: fix the settings; ETOKENTEMP: the token
 * endpoint could not be reached), which nodemailer would turn into EAUTH.
 */
import type { PreparedRelay } from './prepare.js';
import { usesOauth } from './prepare.js';
import { smtpError, type SmtpError } from './errors.js';

/** Registered under its own name: nodemailer replaces a plain 'XOAUTH2' method without its own token generator by the first other mechanism the server offers. */
const OAUTH_METHOD = 'OUTBOX-OAUTH';

type AuthContext = { sendCommand(cmd: string): Promise<{ status: number }>; resolve(): void; reject(e: Error | string): void };

/** nodemailer's login() argument for this relay (it has a user). */
export function loginOptions(relay: PreparedRelay): { user: string; pass: string; method?: string } {
  const s = relay.settings;
  const user = relay.endpoint.user ?? '';
  if (usesOauth(s)) return { user, pass: 'x', method: OAUTH_METHOD };
  return { user, pass: relay.password ?? '', ...(s.authMechanism ? { method: s.authMechanism } : {}) };
}

/** The mechanism a login used, for messages: nodemailer's choice, or the OAuth one. */
export function mechanismName(relay: PreparedRelay, nodemailerMethod: string | false | undefined): string {
  if (usesOauth(relay.settings)) return relay.settings.authMechanism === 'OAUTHBEARER' ? 'OAUTHBEARER' : 'XOAUTH2';
  return String(nodemailerMethod || relay.settings.authMechanism || 'PLAIN');
}

/** nodemailer's customAuth for an OAuth relay (none otherwise); our own failures go to onTokenFailure. */
export function oauthCustomAuth(
  relay: PreparedRelay,
  onTokenFailure: (e: SmtpError) => void,
): { customAuth?: Record<string, (ctx: AuthContext) => Promise<void>> } {
  const s = relay.settings;
  const e = relay.endpoint;
  if (!usesOauth(s)) return {};
  const bearer = s.authMechanism === 'OAUTHBEARER';
  const attempt = async (ctx: AuthContext, force: boolean): Promise<number | SmtpError> => {
    let token: string;
    try {
      token = await relay.oauthToken!(force);
    } catch (err) {
      const code = (err as { code?: string }).code === 'ETOKENTEMP' ? 'ETOKENTEMP' : 'ECONFIG';
      return smtpError((err as Error).message, { code });
    }
    const blob = bearer
      ? Buffer.from(
          `n,a=${(e.user ?? '').replace(/=/g, '=3D').replace(/,/g, '=2C')},\x01host=${e.host}\x01port=${e.port}\x01auth=Bearer ${token}\x01\x01`,
        ).toString('base64')
      : Buffer.from(`user=${e.user ?? ''}\x01auth=Bearer ${token}\x01\x01`).toString('base64');
    let r = await ctx.sendCommand(`AUTH ${bearer ? 'OAUTHBEARER' : 'XOAUTH2'} ${blob}`);
    // 334 carries the server's error details; the client answers with an empty response
    // (XOAUTH2) or ^A (OAUTHBEARER) and gets the final 5xx.
    if (r.status === 334) r = await ctx.sendCommand(bearer ? 'AQ==' : '');
    return r.status;
  };
  return {
    customAuth: {
      [OAUTH_METHOD]: async (ctx: AuthContext) => {
        let r = await attempt(ctx, false);
        if (typeof r === 'number' && r !== 235 && s.oauth) r = await attempt(ctx, true);
        if (typeof r !== 'number') {
          // nodemailer turns any rejection into EAUTH: keep ours (ECONFIG / ETOKENTEMP).
          // (nodemailer rewrites the object it is given: hand it a copy.)
          onTokenFailure(r);
          return ctx.reject(new Error(r.message));
        }
        if (r === 235) return ctx.resolve();
        ctx.reject(smtpError(`${bearer ? 'OAUTHBEARER' : 'XOAUTH2'} authentication failed`, { responseCode: r }));
      },
    },
  };
}
