/**
 * config/sections.ts — the rules of the file's sections beyond their single values: an
 * [relay.NAME.oauth] table (with endpointProblem, its https rule), the [[route]] entries (one
 * RouteRule per domain x sender x from), the [sender_table] and the [listener]. Each reads its
 * values through config/reader.ts and throws its errors. [relay.NAME] itself is read in
 * config/file.ts, beside the relay URL grammar it checks.
 */
import type { ListenerSettings, OAuthSettings, RouteRule, SenderTableEntry } from './types.js';
import type { KeyPath } from './locate.js';
import { bareAddress, isDomain, isMailbox } from '../message/address.js';
import type { Reader } from './reader.js';
import { LISTENER, OAUTH, ROUTE_KEYS, SENDER_KEYS } from './keys.js';
/** https everywhere, except a token service on this machine (a local proxy, tests). */
export function endpointProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `"${url}" is not a URL`;
  }
  if (u.protocol === 'https:') return null;
  if (u.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname)) return null;
  return `"${url}" must be https:// (plain http only for a service on this machine)`;
}

export function readOauth(r: Reader, path: KeyPath, v: unknown): OAuthSettings {
  const o = r.section<Partial<OAuthSettings>>(path, v, OAUTH);
  if (o.provider === undefined) r.fail(path, 'provider is required: "google", "microsoft" or "custom"');
  if (o.clientId === undefined || o.clientId === '') r.fail(path, 'client_id is required');
  if (o.provider === 'custom' && o.tokenUrl === undefined) r.fail(path, 'a custom provider needs token_url');
  if (o.grant === 'client_credentials' && o.provider === 'microsoft' && o.tenant === undefined)
    r.fail([...path, 'tenant'], 'the client credentials grant needs the tenant (e.g. "contoso.onmicrosoft.com")');
  for (const k of ['tokenUrl', 'deviceUrl'] as const) {
    const problem = o[k] === undefined ? null : endpointProblem(o[k]!);
    if (problem) r.fail([...path, k === 'tokenUrl' ? 'token_url' : 'device_url'], problem);
  }
  return o as OAuthSettings;
}

export function readRoutes(r: Reader, v: unknown): RouteRule[] {
  if (!Array.isArray(v)) r.fail(['route'], 'routes are written as [[route]] entries');
  const out: RouteRule[] = [];
  v.forEach((entry, i) => {
    const path = ['route', i];
    const t = r.table(path, entry);
    for (const k of Object.keys(t)) if (!ROUTE_KEYS.includes(k)) r.unknown(path, k, ROUTE_KEYS);
    if (typeof t.relay !== 'string' || t.relay === '') r.fail([...path, 'relay'], 'relay is required: a relay name, or "hold" to keep the mail in the queue');
    const domains = t.domain === undefined ? [undefined] : (r.value([...path, 'domain'], { kind: 'strings', item: 'domainpattern' }, t.domain) as string[]);
    const senders = t.sender === undefined ? [undefined] : (r.value([...path, 'sender'], { kind: 'strings', item: 'senderpattern' }, t.sender) as string[]);
    const froms = t.from === undefined ? [undefined] : (r.value([...path, 'from'], { kind: 'strings', item: 'senderpattern' }, t.from) as string[]);
    if (t.domain === undefined && t.sender === undefined && t.from === undefined) {
      r.fail(path, 'a route needs domain, sender or from (use default_relay for everything else)');
    }
    const line = r.loc.line(path);
    for (const d of domains)
      for (const s of senders)
        for (const f of froms) {
          out.push({
            relay: t.relay as string,
            ...(d !== undefined ? { recipientDomain: d } : {}),
            ...(s !== undefined ? { sender: s } : {}),
            ...(f !== undefined ? { from: f } : {}),
            ...(line ? { line } : {}),
          });
        }
  });
  return out;
}

export function readSenderTable(r: Reader, v: unknown): SenderTableEntry[] {
  const t = r.table(['sender_table'], v);
  const out: SenderTableEntry[] = [];
  for (const [rcpt, val] of Object.entries(t)) {
    const path = ['sender_table', rcpt];
    const key = rcpt.startsWith('@') ? isDomain(rcpt.slice(1)) : isMailbox(rcpt);
    if (!key) r.fail(path, 'the key must be a recipient address or "@domain" (quote it: "a@example.com" = ...)');
    let from: unknown;
    let replyTo: unknown;
    if (typeof val === 'object' && val !== null && !Array.isArray(val)) {
      const e = val as Record<string, unknown>;
      for (const k of Object.keys(e)) if (!SENDER_KEYS.includes(k)) r.unknown(path, k, SENDER_KEYS);
      from = e.from;
      replyTo = e.reply_to;
    } else from = val;
    const check = (p: KeyPath, x: unknown): string => {
      if (typeof x !== 'string' || !isMailbox(bareAddress(x)))
        r.fail(p, `must be an address ("a@example.com" or "Name <a@example.com>"), not ${JSON.stringify(x)}`);
      if (/[\r\n\x00]/.test(x)) r.fail(p, 'may not hold a line break');
      return x;
    };
    out.push({
      recipient: rcpt.startsWith('@') ? rcpt.toLowerCase() : rcpt,
      from: check(typeof val === 'string' ? path : [...path, 'from'], from),
      ...(replyTo !== undefined ? { replyTo: check([...path, 'reply_to'], replyTo) } : {}),
    });
  }
  return out;
}

export function readListener(r: Reader, v: unknown): ListenerSettings {
  const l = r.section<Partial<ListenerSettings>>(['listener'], v, LISTENER);
  if (!l.listen) r.fail(['listener', 'listen'], 'listen is required (e.g. listen = ["127.0.0.1:10587"])');
  if ((l.tlsCert === undefined) !== (l.tlsKey === undefined)) r.fail(['listener', l.tlsCert ? 'tls_key' : 'tls_cert'], 'tls_cert and tls_key go together');
  return l as ListenerSettings;
}
