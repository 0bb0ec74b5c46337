/**
 * relay/errors.ts — the one error type of talking to a relay, and its one constructor.
 *
 * SmtpError carries nodemailer's fields (code, responseCode, command, response, originalCode),
 * so that an error from nodemailer and one of our own read alike: delivery (relay/session.ts),
 * `outbox check` (relay/probe.ts) and the classifier (runner/classify.ts, which decides from
 * these fields, never from the text) all use this type. Pure.
 */

export type SmtpError = Error & {
  /** nodemailer's kind: EAUTH, ETLS, ECONNECTION, ETIMEDOUT, EENVELOPE, ...; ours: ECONFIG, ETOKENTEMP. */
  code?: string;
  /** The relay's reply code, when it answered. */
  responseCode?: number;
  /** The command answered: CONN, EHLO, STARTTLS, AUTH PLAIN, MAIL FROM, RCPT TO, DATA, API. */
  command?: string;
  /** The relay's reply text. */
  response?: string;
  /** The system's or OpenSSL's code under nodemailer's (ECONNREFUSED, CERT_HAS_EXPIRED). */
  originalCode?: string;
  /** The recipient a RCPT TO refusal is about. */
  recipient?: string;
  /** Refused recipients of a transaction. */
  rejectedErrors?: SmtpError[];
  /** host[ip]:port of the relay, once known. */
  peer?: string;
};

/** The one constructor: an Error with the given fields. */
export function smtpError(message: string, fields: Omit<SmtpError, 'name' | 'message'> = {}): SmtpError {
  return Object.assign(new Error(message), fields);
}

/** An error of our own that classify() reads as a configuration problem (ECONFIG). */
export function configFailure(message: string): SmtpError & { code: string } {
  return smtpError(message, { code: 'ECONFIG' }) as SmtpError & { code: string };
}
