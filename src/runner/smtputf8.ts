/**
 * runner/smtputf8.ts — the envelope for a relay that does not offer SMTPUTF8. Pure.
 *
 * RFC 6531 section 3.4: a client must not send a UTF-8 address in MAIL FROM or RCPT TO to a
 * server that does not offer SMTPUTF8 (OpenSMTPD, for one, answers 501 and the mail bounced).
 * So, without the extension:
 *   - an internationalised domain goes out in its A-label form (user@exämple.org ->
 *     user@xn--exmple-cua.org, RFC 5890), which every relay accepts and which means the same;
 *   - a UTF-8 local part has no ASCII form: that recipient fails at once with 5.6.7 (RFC 6531
 *     section 3.6.1), before anything is sent; a UTF-8 local part in the sender fails them all.
 * With SMTPUTF8 offered, addresses go as they are (nodemailer adds the SMTPUTF8 parameter).
 * The spool's `smtputf8` flag says whether a message has a UTF-8 envelope address at all.
 */
import { domainToASCII } from 'node:url';
import type { Outcome } from './classify.js';
import { isAscii } from '../message/address.js';

/** The address with its domain in A-labels, or why it cannot go without SMTPUTF8. */
export function asciiAddress(address: string): { address: string } | { why: string } {
  if (isAscii(address)) return { address };
  const at = address.lastIndexOf('@');
  const local = at < 0 ? address : address.slice(0, at);
  const domain = at < 0 ? '' : address.slice(at + 1);
  if (!isAscii(local)) return { why: 'its local part (before the @) is not ASCII' };
  const alabel = domainToASCII(domain);
  if (!alabel) return { why: `its domain ${domain} is not a valid internationalised domain name` };
  return { address: `${local}@${alabel}` };
}

export interface AsciiEnvelope {
  /** The sender to send, in ASCII (undefined: the sender cannot go; every recipient is refused). */
  sender?: string;
  /** Recipients that can go: [address on the wire, address as queued]. */
  to: [string, string][];
  /** Recipients refused before sending (5.6.7), by address as queued. */
  refused: Map<string, Outcome>;
}

/** The envelope for a relay (peer) without SMTPUTF8. */
export function asciiEnvelope(sender: string, recipients: string[], peer: string): AsciiEnvelope {
  const refused = new Map<string, Outcome>();
  const why = (a: string, w: string): Outcome => ({
    status: 'failed',
    dsn: '5.6.7',
    reason: `${peer} does not offer SMTPUTF8, which the address <${a}> needs: ${w} (RFC 6531); not sent`,
  });
  const s = asciiAddress(sender);
  if ('why' in s) {
    for (const r of recipients) refused.set(r, why(sender, `the sender's ${s.why.replace(/^its /, '')}`));
    return { to: [], refused };
  }
  const to: [string, string][] = [];
  for (const r of recipients) {
    const a = asciiAddress(r);
    if ('why' in a) refused.set(r, why(r, a.why));
    else to.push([a.address, r]);
  }
  return { sender: s.address, to, refused };
}

/** Does this envelope need SMTPUTF8 as it stands? */
export function needsSmtpUtf8(sender: string, recipients: string[]): boolean {
  return !isAscii(sender) || recipients.some((r) => !isAscii(r));
}
