/**
 * relay/probe-cert.ts — what `outbox check` says about a relay's certificate: chain, host name,
 * fingerprint pin, days until expiry, as findings. Judged on a socket opened with delivery's own
 * TLS options (relay/connect.ts, examine mode), so its `authorized` is delivery's verdict; a pin
 * never excuses a chain that does not verify. Also the Finding type of every check step. Pure.
 */
import * as tls from 'node:tls';
import type { RelaySettings } from '../config/types.js';
import { certNames, relayPins } from './tls.js';
import { normalizeFingerprint } from './url.js';

export type Level = 'ok' | 'info' | 'warn' | 'fail' | 'config';

/** One line of `outbox check`'s report. */
export interface Finding {
  level: Level;
  text: string;
}

const DAY = 86_400_000;
/** Warn when the certificate expires within this many days. */
export const EXPIRY_WARN_DAYS = 14;

/** "expired 25 hours ago" / "expired 3 days ago": rounded down, never towards a later expiry. */
export function expiredAgo(expires: number, now: number): string {
  const hours = Math.floor((now - expires) / 3_600_000);
  if (hours < 1) return 'expired less than an hour ago';
  if (hours < 48) return `expired ${hours} hour${hours === 1 ? '' : 's'} ago`;
  const days = Math.floor((now - expires) / DAY);
  return `expired ${days} days ago`;
}

/**
 * Examine the server certificate: chain, host name, pin, expiry. `trusted` is delivery's verdict
 * (the socket was opened with delivery's options): a chain that does not verify fails even with
 * a matching pin, since a pin is checked in addition to verification, never instead.
 */
export function certFindings(
  sock: Pick<tls.TLSSocket, 'authorized' | 'authorizationError' | 'getPeerCertificate'>,
  host: string,
  relay: RelaySettings,
  now: number,
): { findings: Finding[]; trusted: boolean } {
  const out: Finding[] = [];
  const cert = sock.getPeerCertificate();
  if (!cert || !cert.raw) return { findings: [{ level: 'fail', text: 'certificate: the server sent none' }], trusted: false };
  const subject = cert.subject?.CN ? `CN=${cert.subject.CN}` : '(no CN)';
  const issuer = cert.issuer?.CN ? `CN=${cert.issuer.CN}` : cert.issuer?.O ? `O=${cert.issuer.O}` : '?';
  const expires = Date.parse(cert.valid_to);
  const days = Math.floor((expires - now) / DAY);
  const pins = relayPins(relay);
  const pinned = pins.length > 0 && pins.includes(normalizeFingerprint(cert.fingerprint256) ?? '');
  const authErr = sock.authorized ? null : String(sock.authorizationError ?? 'not trusted');
  // The identity check (relay/tls.ts) runs after a valid chain: its errors are not chain errors.
  const chainErr = authErr === 'ERR_TLS_CERT_ALTNAME_INVALID' || authErr === 'ERR_OUTBOX_PIN_MISMATCH' ? null : authErr;
  // The setting's name where this relay is configured: the environment's relay has no ca_file.
  const caKey = relay.name === 'env' ? 'OUTBOX_RELAY_CA' : 'ca_file';
  const nameErr = tls.checkServerIdentity(host, cert);
  if (pins.length > 0 && !pinned)
    out.push({ level: 'fail', text: `certificate: fingerprint ${cert.fingerprint256} does not match the configured fingerprint pin` });
  else if (pinned) out.push({ level: 'ok', text: 'certificate: matches the configured fingerprint pin' });
  if (chainErr) {
    const why =
      chainErr === 'CERT_HAS_EXPIRED'
        ? `${expiredAgo(expires, now)} (${new Date(expires).toISOString().slice(0, 10)})`
        : chainErr === 'DEPTH_ZERO_SELF_SIGNED_CERT' || chainErr === 'SELF_SIGNED_CERT_IN_CHAIN'
          ? `self-signed: not issued by a trusted CA (trust its CA with ${caKey})`
          : chainErr === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || chainErr === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'
            ? `issued by a CA this system does not trust (set ${caKey})`
            : chainErr;
    out.push({
      level: 'fail',
      text: `certificate NOT valid: ${why}${pinned ? '; the pin does not replace verification: delivery refuses this certificate too' : ''}`,
    });
  } else out.push({ level: 'ok', text: `certificate chain: valid (${subject}, issued by ${issuer})` });
  if (nameErr) out.push({ level: 'fail', text: `certificate is for another host: it names ${certNames(cert)}, the URL says ${host}` });
  else out.push({ level: 'ok', text: `certificate name: matches ${host}` });
  if (days >= 0) {
    out.push({
      level: days < EXPIRY_WARN_DAYS ? 'warn' : 'ok',
      text: `certificate expires ${new Date(expires).toISOString().slice(0, 10)}: in ${days} day${days === 1 ? '' : 's'}`,
    });
  }
  // Delivery's own verdict (the same options, relay/tls.ts) has the last word.
  if (!sock.authorized && !out.some((f) => f.level === 'fail')) out.push({ level: 'fail', text: `certificate NOT accepted: ${authErr}` });
  return { findings: out, trusted: sock.authorized && !out.some((f) => f.level === 'fail') };
}
