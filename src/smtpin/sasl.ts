/**
 * smtpin/sasl.ts — the SASL exchanges of SMTP AUTH (RFC 4954): PLAIN (RFC 4616) and LOGIN, from
 * the initial response or 334 challenges to a user name and password (or null for a malformed
 * answer), and authExchange: the AUTH command after the session's sequence checks (session.ts);
 * the users file and the throttle behind the Authenticator are auth.ts's.
 * Pure but for the challenge callback, which sends a 334 and reads the client's line.
 */
import { reply, type Reply } from './protocol.js';

/** The longest line of an AUTH exchange (a base64 PLAIN response with long names). */
export const AUTH_LINE_MAX = 12_288;

/** Send a 334 challenge; the client's answer, or null when its line was too long. */
export type Challenge = (text: string) => Promise<string | null>;

export type Credentials = { user: string | null; pass: string | null } | 'aborted';

const b64 = (s: string): string | null => (/^[A-Za-z0-9+/]*={0,2}$/.test(s) ? Buffer.from(s, 'base64').toString('utf8') : null);

/** Run the exchange of `mech` (PLAIN or LOGIN); '*' from the client aborts it. */
export async function readCredentials(mech: string, initial: string | undefined, challenge: Challenge): Promise<Credentials> {
  let user: string | null = null;
  let pass: string | null = null;
  let resp: string | null;
  if (mech === 'PLAIN') {
    resp = initial !== undefined ? initial : await challenge('');
    if (resp === '*') return 'aborted';
    const dec = resp === null ? null : resp === '=' ? '' : b64(resp);
    const parts = dec?.split('\0');
    if (parts && parts.length === 3) {
      // authzid must be empty or equal to the authcid: no acting as someone else.
      if (parts[0] === '' || parts[0] === parts[1]) {
        user = parts[1]!;
        pass = parts[2]!;
      }
    }
  } else {
    resp = initial !== undefined ? initial : await challenge('VXNlcm5hbWU6');
    if (resp === '*') return 'aborted';
    user = resp === null ? null : b64(resp);
    if (user !== null) {
      resp = await challenge('UGFzc3dvcmQ6');
      if (resp === '*') return 'aborted';
      pass = resp === null ? null : b64(resp);
    }
  }
  return { user, pass };
}

/** The listener's AUTH: mechanisms offered and the password check (listener.ts builds it). */
export interface Authenticator {
  mechanisms: string[];
  verify(user: string, password: string): Promise<boolean>;
  /** A refusal (421 4.7.0, then the session ends) before any credentials are read, e.g. an address that failed too often. */
  refusal?(): string | null;
}

export type AuthResult =
  /** Authenticated as user with mech. */
  | { kind: 'ok'; user: string; mech: string }
  /** A refusal counted as a session error; 'failed' is a wrong password (counted apart too). */
  | { kind: 'error' | 'failed'; reply: Reply }
  /** Say these and end the session. */
  | { kind: 'close'; replies: Reply[] };

/** `AUTH mech [initial]` once the session allows it: refusal, exchange, verification. */
export async function authExchange(
  auth: Authenticator,
  arg: string,
  o: { hostname: string; clientName: string; failures: number; log?: ((line: string) => void) | undefined; challenge: Challenge },
): Promise<AuthResult> {
  const [mechRaw, initial] = arg.trim().split(/\s+/, 2);
  const mech = (mechRaw ?? '').toUpperCase();
  if (!auth.mechanisms.includes(mech)) return { kind: 'error', reply: reply(504, '5.5.4', 'Unrecognized authentication type') };
  const refusal = auth.refusal?.();
  if (refusal) {
    o.log?.(`warning: ${o.clientName}: AUTH refused: ${refusal}`);
    return { kind: 'close', replies: [reply(421, '4.7.0', `${o.hostname} ${refusal}`)] };
  }
  const creds = await readCredentials(mech, initial, o.challenge);
  if (creds === 'aborted') return { kind: 'error', reply: reply(501, '5.7.0', 'Authentication aborted') };
  const { user, pass } = creds;
  if (user === null || pass === null) return { kind: 'error', reply: reply(501, '5.5.2', 'Error: malformed authentication response') };
  const ok = user !== '' && !/[\x00-\x1f:]/.test(user) && (await auth.verify(user, pass));
  if (ok) return { kind: 'ok', user, mech };
  o.log?.(`warning: ${o.clientName}: SASL ${mech} authentication failed`);
  const failed = reply(535, '5.7.8', 'Error: authentication failed');
  // The third failure in a session ends it.
  if (o.failures + 1 >= 3) return { kind: 'close', replies: [failed, reply(421, '4.7.0', `${o.hostname} Error: too many authentication failures`)] };
  return { kind: 'failed', reply: failed };
}
