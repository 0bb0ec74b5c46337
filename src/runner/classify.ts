/**
 * runner/classify.ts — what an SMTP result means for the recipients it covers. Pure; the one
 * place where delivery outcomes are decided (STYLE.md example 5).
 *
 * Decided from nodemailer's structured error fields (`code`, `responseCode`, `command`,
 * `originalCode`), never from message text:
 *   - 2xx: sent.
 *   - A configuration problem: any AUTH failure (535 and friends, missing credentials, 530
 *     authentication required), TLS
 *     failures (untrusted, expired or wrong-name certificate, STARTTLS not offered or refused),
 *     an unreadable secret, no relay: DEFERRED and loud (a fix hint for the log and mailq),
 *     never a bounce: a wrong password must not bounce a day of cron mail.
 *   - 4xx: deferred.
 *   - 5xx in reply to MAIL FROM, RCPT TO or DATA: failed (permanent) for the recipients it
 *     covers; except 552 at RCPT TO, which RFC 5321 section 4.5.3.1.10 says to treat as 452.
 *   - 5xx anywhere else (greeting, EHLO): deferred and loud: the relay refuses our session,
 *     which is about the relay and us, not about this message.
 *   - No reply code: connection refused or lost, timeout, DNS, protocol confusion: deferred.
 *   - Client-side refusals before anything was sent: message larger than the relay's SIZE
 *     (5.3.4) and an address the client cannot send (5.1.3): failed.
 * The enhanced status code comes from the reply when it has one of the right class.
 */
import { tlsAlert, withoutNodeHints } from './tls-errors.js';

export type DeliveryStatus = 'sent' | 'deferred' | 'failed';

export interface SmtpFailure {
  code?: string;
  responseCode?: number;
  command?: string;
  response?: string;
  originalCode?: string;
  message?: string;
}

export interface Outcome {
  status: DeliveryStatus;
  /** RFC 3463 enhanced status code. */
  dsn: string;
  /** One line for the log, mailq and bounces; Postfix-like wording. Never holds credentials. */
  reason: string;
  /** Set for configuration problems: what to fix, for the log and mailq. */
  fix?: string;
}

/** Node/OpenSSL codes of certificate verification failures. */
const CERT_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_OUTBOX_PIN_MISMATCH',
]);

const TLS_HINT =
  'the TLS handshake with the relay failed: if its certificate is untrusted, set OUTBOX_RELAY_CA (ca_file) to the CA that issued it; if it is expired or names another host, fix the certificate or the host name in the relay URL';
const STARTTLS_HINT =
  'the relay did not offer or refused STARTTLS, and mail is never sent in clear: use smtps://host:465 if it speaks implicit TLS, or fix the relay';
const AUTH_HINT =
  'the relay refused our login: check the user name in the relay URL and the password (OUTBOX_RELAY_PASSWORD_FILE / password_file)';

/** "550 5.1.1 <x>: No such user" -> "5.1.1"; a missing or wrong-class code -> "5.0.0". */
export function enhancedCode(response: string | undefined, replyCode: number | undefined, fallback: string): string {
  const cls = replyCode ? String(replyCode)[0] : undefined;
  const m = response ? /^\d{3}[ -]([245])\.(\d{1,3})\.(\d{1,3})\b/.exec(response) : null;
  if (m && (!cls || m[1] === cls)) return `${m[1]}.${m[2]}.${m[3]}`;
  if (cls === '2' || cls === '4' || cls === '5') return `${cls}.0.0`;
  return fallback;
}

/** A server reply on one line (multi-line replies joined), without trailing space. */
export function oneLine(text: string): string {
  return text.replace(/\s*\r?\n\s*(\d{3}[ -])?/g, ' ').trim();
}

function inReplyTo(command: string | undefined): string {
  if (!command || command === 'CONN' || command === 'API') return '';
  return ` (in reply to ${command.replace(/^AUTH .*/, 'AUTH')} command)`;
}

/** The outcome of a successful reply (the final 250 to DATA). */
export function sentOutcome(peer: string, response: string): Outcome {
  const r = oneLine(response);
  return { status: 'sent', dsn: enhancedCode(r, Number(r.slice(0, 3)) || 250, '2.0.0'), reason: r || '250 Ok' };
}

/** Classify a failure talking to relay `peer` (host[ip]:port or host:port). */
export function classify(f: SmtpFailure, peer: string): Outcome {
  const code = f.code ?? '';
  const rc = f.responseCode && f.responseCode >= 200 && f.responseCode < 600 ? f.responseCode : undefined;
  const reply = f.response ? oneLine(f.response) : '';
  const said = reply ? `host ${peer} said: ${reply}${inReplyTo(f.command)}` : '';

  // Configuration problems first: whatever the reply code, they are temporary and loud.
  if (code === 'EAUTH' || (f.command && /^AUTH\b/.test(f.command))) {
    return {
      status: 'deferred',
      dsn: '4.7.8',
      reason: said || `authentication with ${peer} failed: ${f.message ?? 'no credentials'}`,
      fix: AUTH_HINT,
    };
  }
  const alert = tlsAlert(f.message);
  if (code === 'ETLS' || f.command === 'STARTTLS' || CERT_CODES.has(f.originalCode ?? '') || CERT_CODES.has(code) || alert) {
    const starttls = f.command === 'STARTTLS' && rc !== undefined;
    return {
      status: 'deferred',
      dsn: '4.7.5',
      reason: said || (alert ? `TLS handshake with ${peer} failed: ${alert.text}` : `TLS with ${peer} failed: ${oneLine(withoutNodeHints(f.message ?? 'handshake failed'))}`),
      fix: starttls ? STARTTLS_HINT : alert ? alert.hint : TLS_HINT,
    };
  }
  // 530 (RFC 4954: authentication required) is about our configuration, never about the
  // message: a relay URL without a user would otherwise bounce everything.
  if (rc === 530) {
    return {
      status: 'deferred',
      dsn: '4.7.0',
      reason: said,
      fix: 'the relay requires authentication: put the user in the relay URL (smtp+starttls://USER@host:587) and set OUTBOX_RELAY_PASSWORD_FILE',
    };
  }
  if (code === 'ECONFIG') {
    return { status: 'deferred', dsn: '4.3.5', reason: oneLine(f.message ?? 'configuration problem'), fix: oneLine(f.message ?? '') };
  }
  if (rc !== undefined) {
    const dsn = enhancedCode(reply, rc, `${String(rc)[0]}.0.0`);
    if (rc < 300) return { status: 'sent', dsn, reason: reply };
    if (rc < 500) return { status: 'deferred', dsn, reason: said };
    const cmd = f.command ?? '';
    if (cmd === 'RCPT TO' && rc === 552) return { status: 'deferred', dsn: dsn.replace(/^5/, '4'), reason: said };
    if (cmd === 'MAIL FROM' || cmd === 'RCPT TO' || cmd === 'DATA') return { status: 'failed', dsn, reason: said };
    return {
      status: 'deferred',
      dsn: dsn.replace(/^5/, '4'),
      reason: said,
      fix: 'the relay refuses our session (greeting or EHLO): check that this host may use it',
    };
  }
  if (code === 'EMESSAGE' && f.command === 'MAIL FROM') {
    return { status: 'failed', dsn: '5.3.4', reason: `message too big for ${peer}: ${oneLine(f.message ?? '')}` };
  }
  if (code === 'EENVELOPE') {
    return { status: 'failed', dsn: '5.1.3', reason: `bad address syntax: ${oneLine(f.message ?? '')}` };
  }
  if (code === 'ETIMEDOUT') {
    return { status: 'deferred', dsn: '4.4.2', reason: `conversation with ${peer} timed out${inReplyTo(f.command)}` };
  }
  const sys = f.originalCode ?? (code.startsWith('E') && code !== 'ECONNECTION' ? code : '');
  const what = sys === 'ECONNREFUSED' ? 'Connection refused' : sys === 'ENOTFOUND' || sys === 'EAI_AGAIN' ? 'Host not found' : oneLine(f.message ?? 'connection failed');
  return { status: 'deferred', dsn: sys === 'ENOTFOUND' ? '4.4.4' : '4.4.1', reason: `connect to ${peer}: ${what}` };
}
