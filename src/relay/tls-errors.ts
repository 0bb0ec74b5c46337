/**
 * relay/tls-errors.ts — what a failed TLS handshake means, in words an administrator can act on.
 * Pure; used by classify.ts (delivery's reasons and hints) and `outbox check` (relay/probe.ts).
 *
 * OpenSSL reports an alert from the server as "...:SSL alert number 80" (Node's code
 * ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR and friends): that is said as "TLS handshake with
 * host[ip]:port failed: the server sent alert 80 (internal_error)", with a hint for the alert. Node's own hint "try running
 * Node.js with --use-system-ca" means nothing for our executable (which already trusts the
 * system's CAs, relay/tls.ts): it is removed.
 */

/** TLS alert descriptions (RFC 8446 section 6, RFC 5246 section 7.2). */
const ALERTS: Record<number, string> = {
  10: 'unexpected_message',
  20: 'bad_record_mac',
  22: 'record_overflow',
  40: 'handshake_failure',
  42: 'bad_certificate',
  43: 'unsupported_certificate',
  44: 'certificate_revoked',
  45: 'certificate_expired',
  46: 'certificate_unknown',
  47: 'illegal_parameter',
  48: 'unknown_ca',
  49: 'access_denied',
  50: 'decode_error',
  51: 'decrypt_error',
  70: 'protocol_version',
  71: 'insufficient_security',
  80: 'internal_error',
  86: 'inappropriate_fallback',
  90: 'user_canceled',
  109: 'missing_extension',
  110: 'unsupported_extension',
  112: 'unrecognized_name',
  116: 'certificate_required',
  120: 'no_application_protocol',
};

/** What to do about an alert the server sent. */
function alertHint(n: number): string {
  if (n === 40 || n === 70 || n === 71)
    return "the relay and Outbox share no TLS version or cipher (Outbox needs TLS 1.2 or newer): use the relay's other port (465 or 587) or ask its operator to enable TLS 1.2";
  if (n === 42 || n === 43 || n === 44 || n === 45 || n === 46 || n === 48 || n === 116)
    return 'the relay refused our client certificate, or wants one: set client_cert and client_key for this relay, or check that the relay trusts their CA';
  if (n === 112) return 'the relay does not know the host name in the relay URL (SNI): use the name its certificate is for';
  return "the problem is on the relay's side (its TLS setup: certificate, key or configuration); look at the relay's log, or ask its operator";
}

/** Node's hint that does not apply to the Outbox executable. */
export function withoutNodeHints(message: string): string {
  return message.replace(/;?[^;]*--use-(?:system|openssl)-ca\b[^;]*/g, '').trim();
}

/** The alert number of an "...SSL alert number 80" message, or undefined. */
export function alertNumber(message: string | undefined): number | undefined {
  const m = /alert number (\d+)/i.exec(message ?? '');
  return m ? Number(m[1]) : undefined;
}

/** A server alert during the handshake, said plainly with a hint; undefined for other errors. */
export function tlsAlert(message: string | undefined): { text: string; hint: string } | undefined {
  const n = alertNumber(message);
  if (n === undefined) return undefined;
  return { text: `the server sent alert ${n} (${ALERTS[n] ?? 'unknown alert'})`, hint: alertHint(n) };
}

/** One line for a failed TLS handshake (used by `outbox check`). */
export function tlsFailureText(e: Error): string {
  const a = tlsAlert(e.message);
  if (a) return `the TLS handshake failed: ${a.text}: ${a.hint}`;
  return `TLS handshake failed: ${withoutNodeHints(e.message)}`;
}
