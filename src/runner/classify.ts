/**
 * runner/classify.ts — what an SMTP result means for the recipients it covers. Pure; the one
 * place where delivery outcomes are decided.
 *
 * Decided from the structured fields of an SmtpError (relay/errors.ts: nodemailer's `code`,
 * `responseCode`, `command`, `originalCode`) and the enhanced status code; the reply text only where that code says
 * nothing precise (x.0.0, 5.5.2, 5.7.1: refused senders and quotas below):
 *   - 2xx: sent.
 *   - A configuration problem: any AUTH failure (535 and friends, missing credentials, 530
 *     authentication required), TLS
 *     failures (untrusted, expired or wrong-name certificate, STARTTLS not offered or refused),
 *     an unreadable secret, no relay: DEFERRED and loud (a fix hint for the log and mailq),
 *     never a bounce: a wrong password must not bounce a day of cron mail.
 *   - Quota and throttling (sending quota, relay limit, rate limit), whatever the reply code:
 *     deferred with a longer wait (`slow`), never a bounce: the quota comes back by itself.
 *   - A refused sender: a 5xx to MAIL FROM, or a 5xx at RCPT TO / after DATA whose enhanced
 *     code (5.1.7, 5.1.8, 5.2.252, 5.7.60) or, where that code is ambiguous, whose text
 *     ("Sender address rejected", "Email address is not verified", "SendAsDenied") refuses the
 *     sender: a configuration problem of this host (deferred, loud, never bounced to the
 *     address the relay has just refused).
 *   - 4xx: deferred.
 *   - Any other 5xx in reply to RCPT TO or DATA, and 552 / 5.3.4 (message too big) to MAIL
 *     FROM: failed (permanent) for the recipients it covers; except 552 at RCPT TO, which
 *     RFC 5321 section 4.5.3.1.10 says to treat as 452.
 *   - 5xx anywhere else (greeting, EHLO): deferred and loud: the relay refuses our session,
 *     which is about the relay and us, not about this message.
 *   - No reply code: connection refused or lost, timeout, DNS, protocol confusion: deferred.
 *   - Client-side refusals before anything was sent: message larger than the relay's SIZE
 *     (5.3.4) and an address the client cannot send (5.1.3): failed.
 * The enhanced status code comes from the reply when it has one of the right class.
 */
import type { SmtpError } from '../relay/errors.js';
import { tlsAlert, withoutNodeHints } from '../relay/tls-errors.js';

export type DeliveryStatus = 'sent' | 'deferred' | 'failed';

export interface Outcome {
  status: DeliveryStatus;
  /** RFC 3463 enhanced status code. */
  dsn: string;
  /** One line for the log, mailq and bounces; Postfix-like wording. Never holds credentials. */
  reason: string;
  /** Set for configuration problems: what to fix, for the log and mailq. */
  fix?: string;
  /** Configuration problems: the cause in a few words ("relay env refuses the sender <x@vm>"), for grouping. */
  cause?: string;
  /** Quota or throttling: retried after a longer wait (schedule.ts QUOTA_WAIT_MS). */
  slow?: boolean;
}

/** Who we were talking to and as whom, for the wording of configuration problems. */
export interface ClassifyContext {
  /** Relay name ("env", or a [relay.NAME]). */
  relay?: string;
  /** Envelope sender of the transaction ('' = null sender). */
  sender?: string;
  /** Local recipients sent without a dot because no `domain` is known (plan/rewrite.ts): refusing one is this host's setup problem. */
  unqualified?: ReadonlySet<string>;
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
const AUTH_HINT = 'the relay refused our login: check the user name in the relay URL and the password (OUTBOX_RELAY_PASSWORD_FILE / password_file)';

/** Enhanced codes that name the sender as the problem (RFC 3463; Microsoft 365's own). */
const SENDER_CODES = new Set(['5.1.7', '5.1.8', '5.2.252', '5.7.60']);
/** Enhanced codes that are about a recipient or the message: the text is not consulted. */
const NOT_SENDER_CODES = /^5\.(1\.[1-6]|1\.10|2\.[1-4]|3\.4|6\.\d+)$/;
/** Replies that refuse the sender where the enhanced code is ambiguous (x.0.0, 5.5.2, 5.7.1, ...). */
const SENDER_TEXT =
  /sender address rejected|email address is not verified|sendasdenied|not (?:owned by|authorized to send as)|client does not have permissions? to send as/i;
/** Quota and throttling: a limit of the account that lifts by itself. */
const QUOTA_CODES = new Set(['5.4.5', '4.4.5']);
const QUOTA_TEXT = /sending quota|quotaexceeded|relay limit|sending limit|rate limit|throttl|too many messages/i;

/** Is this failed reply (code rc to `command`) a refusal of the sender? Pure. */
export function refusesSender(command: string, rc: number, dsn: string, reply: string): boolean {
  if (rc < 500) return false;
  if (command === 'MAIL FROM') return dsn !== '5.3.4' && rc !== 552;
  if (command !== 'RCPT TO' && command !== 'DATA') return false;
  if (SENDER_CODES.has(dsn)) return true;
  if (NOT_SENDER_CODES.test(dsn)) return false;
  return SENDER_TEXT.test(reply);
}

/** Is this reply a quota or throttling limit (temporary whatever its code)? Pure. */
export function isQuota(dsn: string, reply: string): boolean {
  return QUOTA_CODES.has(dsn) || QUOTA_TEXT.test(reply);
}

/** The fix for a refused sender: an unqualified name needs a domain; else an address the relay accepts. */
function senderFix(sender: string, relay: string): string {
  const at = sender.lastIndexOf('@');
  const domain = at >= 0 ? sender.slice(at + 1) : '';
  if (sender !== '' && !domain.includes('.')) return 'set domain (or OUTBOX_DOMAIN)';
  return `send as an address relay ${relay} accepts: force_sender in [relay.${relay}] (for OUTBOX_RELAY: the login address), or have the provider verify <${sender}>`;
}

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

/** Classify a failure talking to relay `peer` (host[ip]:port or host:port); any field may be absent. */
export function classify(f: Partial<SmtpError>, peer: string, ctx: ClassifyContext = {}): Outcome {
  const code = f.code ?? '';
  const relay = ctx.relay ?? peer;
  const rc = f.responseCode && f.responseCode >= 200 && f.responseCode < 600 ? f.responseCode : undefined;
  const reply = f.response ? oneLine(f.response) : '';
  const said = reply ? `host ${peer} said: ${reply}${inReplyTo(f.command)}` : '';

  // Our own settings could not be used (a secret, an OAuth token refused for good). First: such
  // an error may carry the AUTH command it interrupted, and the AUTH rule would blame the password.
  if (code === 'ECONFIG') {
    // "what is wrong; fix with: what to do" (config/secret-file.ts, config/credentials.ts), else the whole text is both.
    const text = oneLine(f.message ?? 'configuration problem');
    const m = /^(.*?);? fix with: (.*)$/.exec(text) ?? /^(.*?): ((?:set|add|put|use) .*)$/.exec(text);
    return { status: 'deferred', dsn: '4.3.5', reason: m ? m[1]! : text, fix: m ? m[2]! : text, cause: m ? m[1]! : text };
  }
  // The OAuth token endpoint could not be reached, or failed: nothing to fix here, try later.
  if (code === 'ETOKENTEMP') {
    return { status: 'deferred', dsn: '4.4.1', reason: oneLine(f.message ?? 'the OAuth token endpoint could not be reached') };
  }
  // Configuration problems first: whatever the reply code, they are temporary and loud.
  if (code === 'EAUTH' || (f.command && /^AUTH\b/.test(f.command))) {
    return {
      status: 'deferred',
      dsn: '4.7.8',
      reason: said || `authentication with ${peer} failed: ${f.message ?? 'no credentials'}`,
      fix: AUTH_HINT,
      cause: `relay ${relay} refused our login`,
    };
  }
  const alert = tlsAlert(f.message);
  if (code === 'ETLS' || f.command === 'STARTTLS' || CERT_CODES.has(f.originalCode ?? '') || CERT_CODES.has(code) || alert) {
    const starttls = f.command === 'STARTTLS' && rc !== undefined;
    return {
      status: 'deferred',
      dsn: '4.7.5',
      reason:
        said ||
        (alert ? `TLS handshake with ${peer} failed: ${alert.text}` : `TLS with ${peer} failed: ${oneLine(withoutNodeHints(f.message ?? 'handshake failed'))}`),
      fix: starttls ? STARTTLS_HINT : alert ? alert.hint : TLS_HINT,
      cause: starttls ? `relay ${relay} does not offer STARTTLS` : `TLS with relay ${relay} failed`,
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
      cause: `relay ${relay} requires authentication`,
    };
  }
  if (rc !== undefined) {
    const dsn = enhancedCode(reply, rc, `${String(rc)[0]}.0.0`);
    if (rc < 300) return { status: 'sent', dsn, reason: reply };
    if (isQuota(dsn, reply)) return { status: 'deferred', dsn: dsn.replace(/^5/, '4'), reason: said, slow: true };
    if (rc < 500) return { status: 'deferred', dsn, reason: said };
    const cmd = f.command ?? '';
    if (refusesSender(cmd, rc, dsn, reply)) {
      const sender = ctx.sender ?? '';
      return {
        status: 'deferred',
        dsn: dsn.replace(/^5/, '4'),
        reason: said,
        fix: senderFix(sender, relay),
        cause: `relay ${relay} refuses the sender <${sender}>`,
      };
    }
    if (cmd === 'RCPT TO' && f.recipient !== undefined && ctx.unqualified?.has(f.recipient)) {
      return {
        status: 'deferred',
        dsn: dsn.replace(/^5/, '4'),
        reason: said,
        fix: 'set domain (or OUTBOX_DOMAIN): the message then goes to the recipient at that domain',
        cause: `relay ${relay} refuses the local recipient <${f.recipient}>, which has no domain`,
      };
    }
    if (cmd === 'RCPT TO' && rc === 552) return { status: 'deferred', dsn: dsn.replace(/^5/, '4'), reason: said };
    if (cmd === 'MAIL FROM' || cmd === 'RCPT TO' || cmd === 'DATA') return { status: 'failed', dsn, reason: said };
    return {
      status: 'deferred',
      dsn: dsn.replace(/^5/, '4'),
      reason: said,
      fix: 'the relay refuses our session (greeting or EHLO): check that this host may use it',
      cause: `relay ${relay} refuses our session`,
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
  const what =
    sys === 'ECONNREFUSED' ? 'Connection refused' : sys === 'ENOTFOUND' || sys === 'EAI_AGAIN' ? 'Host not found' : oneLine(f.message ?? 'connection failed');
  return { status: 'deferred', dsn: sys === 'ENOTFOUND' ? '4.4.4' : '4.4.1', reason: `connect to ${peer}: ${what}` };
}
