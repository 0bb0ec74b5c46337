/**
 * smtpin/envelope.ts — what MAIL FROM and RCPT TO decide, once the session allows the command
 * (session.ts checks the sequence): the parsed argument (protocol.ts), the listener's
 * sender-login rule (553 5.7.1), and each recipient's alias expansion checked at RCPT (an
 * `error:` alias is 550 5.1.1, a configuration problem 451 4.3.5, a refused pipe 553 5.1.3)
 * rather than as a failure after DATA. Aliases are expanded again at the commit.
 * Pure but for reading the aliases file; a Reply means "refused".
 */
import { expandRecipient } from '../config/aliases.js';
import type { Config } from '../config/config.js';
import { EX_CONFIG, EX_NOUSER } from '../sysexits.js';
import type { RecipientArg } from '../submit/submit.js';
import type { Transaction } from './data.js';
import { parseMailFrom, parseRcptTo, reply, type Reply } from './protocol.js';

export interface EnvelopeContext {
  config: Config;
  esmtp: boolean;
  authOffered: boolean;
  /** Why MAIL FROM is refused for this sender and SASL user, or null (sender_login_match). */
  checkSender?: ((sender: string, saslUser: string | undefined) => string | null) | undefined;
}

/** MAIL FROM: the new transaction, or the refusal. */
export function mailFrom(arg: string, c: EnvelopeContext, saslUser: string | undefined): Transaction | Reply {
  const m = parseMailFrom(arg, { domain: c.config.domain, esmtp: c.esmtp, maxSize: c.config.maxMessageSize, authOffered: c.authOffered });
  if ('code' in m) return m;
  const refused = c.checkSender?.(m.sender, saslUser);
  if (refused) return reply(553, '5.7.1', refused);
  return { from: m, rcpts: [] };
}

/** RCPT TO: the recipient to add, or the refusal. */
export function rcptTo(arg: string, c: EnvelopeContext, smtputf8: boolean): RecipientArg | Reply {
  const r = parseRcptTo(arg, { domain: c.config.domain, esmtp: c.esmtp, maxSize: c.config.maxMessageSize, authOffered: c.authOffered, smtputf8 });
  if ('code' in r) return r;
  const x = expandRecipient(c.config, r.given ?? r.address);
  if ('error' in x) {
    return x.exitCode === EX_NOUSER ? reply(550, '5.1.1', x.error) : x.exitCode === EX_CONFIG ? reply(451, '4.3.5', x.error) : reply(553, '5.1.3', x.error);
  }
  return { address: r.given ?? r.address, ...(r.notify ? { notify: r.notify } : {}), ...(r.orcpt ? { orcpt: r.orcpt } : {}) };
}
