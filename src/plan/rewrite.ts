/**
 * plan/rewrite.ts — what goes out through a relay: routing, recipient splitting and sender
 * rewriting for one queued message. Pure: configuration, envelope and header text in, delivery
 * groups out. The runner calls planDelivery() once per message and sends each group as one SMTP
 * transaction (the body bytes follow the rewritten header section unchanged).
 *
 * Rewrites, in this order (each in the envelope AND the headers; rewriting only the envelope is
 * the classic bug):
 *  1. sender_table (per correspondent): mail to a listed recipient goes out with that From: and
 *     envelope sender, and its Reply-To: when given. Such recipients get their own group.
 *  2. masquerade = "example.com": a local sender (user@<hostname>, user@localhost,
 *     user@<local_domains>) becomes user@example.com in MAIL FROM, From: and Sender:.
 *     Without masquerade, a local sender whose domain has no dot (user@vm: a name no relay
 *     accepts) is requalified with `domain` when that has one: mail queued before `domain` was
 *     set (and held because the relay refused the sender) goes out right after the fix.
 *  3. relay.NAME.force_sender: the relay only accepts its account's address (Gmail, SES): MAIL
 *     FROM and the From:/Sender: addresses become that address; the original From: is kept in a
 *     new Reply-To: unless the message already has one. The display name is kept.
 *     Without force_sender, the login-address rule: when the relay's login is an email address
 *     (Gmail, Microsoft 365, Fastmail...), local senders (bare names, user@<this host>,
 *     user@<domain>) are sent as the login the same way; other senders are left alone, and so
 *     is every sender when sender_table or masquerade chose it.
 * Recipients: a local one whose domain has no dot (root@vm) goes out as root@<domain> once `domain`
 * has a dot, in RCPT TO and To:/Cc: (requalifyGroup); until then it is marked `unqualified`, so
 * that a relay refusing it holds the message as this host's setup problem (runner/classify.ts).
 * The null sender (bounces) is never rewritten. Header fields are edited as raw text: only the
 * address inside the field changes, every other byte stays (src/message/headers.ts).
 *
 * Never throws. Where to look next: plan/routing.ts (which relay), src/runner (sending).
 */
import { formatDisplayName, splitAddress, splitAddressList } from '../message/address.js';
import { fieldValue, parseHeaderSection, type HeaderField } from '../message/headers.js';
import type { Config } from '../config/config.js';
import { bareAddress } from '../message/address.js';
import { localDomainsOf, localName } from '../config/aliases.js';
import { loginAddress } from '../config/domain.js';
import { explainRoute, type Route } from './routing.js';
import type { SenderTableEntry } from '../config/types.js';

export interface DeliveryGroup {
  route: Route;
  /** The relay name (undefined for hold). */
  relay?: string;
  recipients: string[];
  /** Envelope sender for MAIL FROM ('' = null sender). */
  sender: string;
  /** The header section to send, each line ending in '\n', without the empty line. */
  header: string;
  /** What was rewritten, for logs and -v (no secrets here). */
  rewrites: string[];
  /** RCPT TO where it differs from the queued address: a local name without a dot, requalified with `domain`. */
  recipientsAs?: Record<string, string>;
  /** Queued local recipients without a dot and no `domain` to qualify them: a refusal is this host's setup problem. */
  unqualified?: string[];
}

export interface PlanInput {
  sender: string;
  recipients: string[];
  /** The stored header section (latin1 text, LF line endings, without the empty line). */
  header: string;
}

type ConfigForPlan = Pick<Config, 'routes' | 'defaultRelay' | 'relays' | 'senderTable' | 'masquerade' | 'hostname' | 'localDomains'> &
  Partial<Pick<Config, 'domain'>>;

function splitFields(header: string): HeaderField[] {
  const p = parseHeaderSection(header);
  return p.kind === 'headers' ? p.fields : [];
}

/** The first address of the first From: field, if any (latin1 text as stored). */
export function fromAddressOf(header: string): string | undefined {
  const f = splitFields(header).find((x) => x.key === 'from');
  if (!f) return undefined;
  return splitAddressList(fieldValue(f))[0];
}

/** The sender_table entry for a recipient: exact address first, then "@domain". */
export function senderEntryFor(config: Pick<Config, 'senderTable'>, recipient: string): SenderTableEntry | undefined {
  const t = config.senderTable;
  if (!t || t.length === 0) return undefined;
  const r = recipient.toLowerCase();
  const exact = t.find((e) => !e.recipient.startsWith('@') && e.recipient.toLowerCase() === r);
  if (exact) return exact;
  const dom = '@' + (splitAddress(recipient).domain ?? '').toLowerCase();
  return t.find((e) => e.recipient === dom);
}

/** A header value from configuration (UTF-8) as stored header text: names RFC 2047-encoded. */
function headerValue(v: string): string {
  const m = /^(.*?)\s*<([^<>]*)>\s*$/.exec(v);
  if (m && m[1] !== '') {
    const name = m[1]!.replace(/^"(.*)"$/, '$1');
    return `${formatDisplayName(name)} <${m[2]}>`;
  }
  return Buffer.from(v, 'utf8').toString('latin1');
}

/** Replace one address inside a raw field; if it cannot be found, rewrite the field's value. */
function replaceAddressInRaw(f: HeaderField, oldAddr: string, newAddr: string): string {
  const i = f.raw.indexOf(oldAddr, f.raw.indexOf(':') + 1);
  if (i >= 0) return f.raw.slice(0, i) + newAddr + f.raw.slice(i + oldAddr.length);
  return `${f.name}: ${newAddr}\n`;
}

class HeaderEdit {
  fields: HeaderField[];
  constructor(header: string) {
    this.fields = splitFields(header);
  }
  get(key: string): HeaderField | undefined {
    return this.fields.find((f) => f.key === key);
  }
  has(key: string): boolean {
    return this.fields.some((f) => f.key === key);
  }
  /** Replace every `key` field by one new field (appended where the first one was, or at the end). */
  set(name: string, value: string): void {
    const key = name.toLowerCase();
    const idx = this.fields.findIndex((f) => f.key === key);
    const nf: HeaderField = { name, key, raw: `${name}: ${value}\n` };
    this.fields = this.fields.filter((f) => f.key !== key);
    if (idx >= 0) this.fields.splice(Math.min(idx, this.fields.length), 0, nf);
    else this.fields.push(nf);
  }
  /** Apply fn to each address of the `key` fields; fn returns the new address or undefined. */
  mapAddresses(key: string, fn: (addr: string) => string | undefined): void {
    for (const f of this.fields) {
      if (f.key !== key) continue;
      for (const a of splitAddressList(fieldValue(f))) {
        const n = fn(a);
        if (n !== undefined && n !== a) f.raw = replaceAddressInRaw(f, a, n);
      }
    }
  }
  text(): string {
    return this.fields.map((f) => f.raw).join('');
  }
}

/** The domain that requalifies unqualified local senders when masquerade is not set (see the header). */
function requalifyDomain(config: ConfigForPlan): string | undefined {
  return !config.masquerade && config.domain?.includes('.') ? config.domain : undefined;
}

function masqueradeAddress(config: ConfigForPlan, addr: string): string | undefined {
  const target = config.masquerade ?? requalifyDomain(config);
  if (!target) return undefined;
  const { local, domain } = splitAddress(addr);
  if (domain === null) return `${local}@${target}`;
  if (!localDomainsOf(config).includes(domain.toLowerCase())) return undefined;
  if (!config.masquerade && domain.includes('.')) return undefined;
  return `${local}@${target}`;
}

/**
 * Send as `addr` (force_sender, or the login-address rule): the envelope sender and the From: /
 * Sender: addresses for which `applies` holds become `addr`; the display name stays, and the
 * original From: value is kept as Reply-To: unless the message has one. The null sender stays.
 */
function sendAs(h: HeaderEdit, sender: string, addr: string, label: string, applies: (a: string) => boolean, rewrites: string[]): string {
  let s = sender;
  const same = (a: string | undefined) => a?.toLowerCase() === addr.toLowerCase();
  if (s !== '' && !same(s) && applies(s)) {
    rewrites.push(`${label}: envelope sender ${s} -> ${addr}`);
    s = addr;
  }
  const from = h.get('from');
  const fromAddr = from ? splitAddressList(fieldValue(from))[0] : undefined;
  if (!from) {
    h.set('From', addr);
    rewrites.push(`${label}: From: added as ${addr}`);
  } else if (!same(fromAddr) && (fromAddr === undefined || applies(fromAddr))) {
    if (!h.has('reply-to')) {
      // Keep the original author reachable: its From: value, byte for byte, as Reply-To:.
      const original = from.raw.slice(from.raw.indexOf(':') + 1).replace(/^[ \t]*/, '');
      h.fields.push({ name: 'Reply-To', key: 'reply-to', raw: `Reply-To: ${original}` });
      rewrites.push(`${label}: Reply-To: added with the original From:`);
    }
    h.mapAddresses('from', (a) => (applies(a) ? addr : undefined));
    rewrites.push(`${label}: From: ${fromAddr ?? '(none)'} -> ${addr}`);
  }
  h.mapAddresses('sender', (a) => (same(a) || !applies(a) ? undefined : addr));
  return s;
}

/**
 * A local recipient whose domain has no dot (root@vm, root@localhost: what submission made of a
 * bare name before `domain` was known) is sent as local@domain once `domain` has a dot, like a
 * local sender (see the header); `unqualified` when there is no such domain yet. Pure.
 */
export function requalifyRecipient(config: ConfigForPlan, addr: string): { as?: string; unqualified: boolean } {
  const { local, domain } = splitAddress(addr);
  if (domain !== null && (domain.includes('.') || !localDomainsOf(config).includes(domain.toLowerCase()))) return { unqualified: false };
  const d = config.domain?.includes('.') ? config.domain : undefined;
  return d ? { as: `${local}@${d}`, unqualified: false } : { unqualified: true };
}

/** One relay group's recipients as sent, and its To:/Cc: with the same local names requalified. */
function requalifyGroup(config: ConfigForPlan, g: DeliveryGroup): DeliveryGroup {
  const as: Record<string, string> = {};
  const unqualified: string[] = [];
  for (const r of g.recipients) {
    const q = requalifyRecipient(config, r);
    if (q.as) as[r] = q.as;
    else if (q.unqualified) unqualified.push(r);
  }
  if (Object.keys(as).length === 0) return unqualified.length > 0 ? { ...g, unqualified } : g;
  const h = new HeaderEdit(g.header);
  const rewrites = [...g.rewrites];
  for (const key of ['to', 'cc'])
    h.mapAddresses(key, (a) => {
      const n = requalifyRecipient(config, a).as;
      if (n) rewrites.push(`unqualified local recipient, domain ${config.domain}: ${key === 'to' ? 'To' : 'Cc'}: ${a} -> ${n}`);
      return n;
    });
  for (const [from, to] of Object.entries(as)) rewrites.push(`unqualified local recipient, domain ${config.domain}: envelope recipient ${from} -> ${to}`);
  return { ...g, header: h.text(), rewrites, recipientsAs: as, ...(unqualified.length > 0 ? { unqualified } : {}) };
}

/** A sender of this host: a local name (bare, @hostname, @localhost, @local_domains) or @domain. */
export function isLocalSender(config: ConfigForPlan, addr: string): boolean {
  if (localName(config, addr) !== null) return true;
  return config.domain !== undefined && (splitAddress(addr).domain ?? '').toLowerCase().replace(/\.$/, '') === config.domain.toLowerCase();
}

/** Rewrite one group's envelope sender and header (sender_table entry, masquerade, force_sender). */
export function rewriteSender(
  config: ConfigForPlan,
  relayName: string | undefined,
  sender: string,
  header: string,
  entry: SenderTableEntry | undefined,
): { sender: string; header: string; rewrites: string[] } {
  const rewrites: string[] = [];
  const h = new HeaderEdit(header);
  let s = sender;
  if (entry) {
    const addr = bareAddress(entry.from);
    if (s !== '') {
      rewrites.push(`sender_table ${entry.recipient}: envelope sender ${s || '<>'} -> ${addr}`);
      s = addr;
    }
    const from = h.get('from');
    if (/</.test(entry.from) || !from) h.set('From', headerValue(entry.from));
    else h.mapAddresses('from', () => addr);
    rewrites.push(`sender_table ${entry.recipient}: From: -> ${entry.from}`);
    if (entry.replyTo) {
      h.set('Reply-To', headerValue(entry.replyTo));
      rewrites.push(`sender_table ${entry.recipient}: Reply-To: -> ${entry.replyTo}`);
    }
  }
  if (config.masquerade || requalifyDomain(config)) {
    const label = config.masquerade ? 'masquerade' : `unqualified local sender, domain ${config.domain}`;
    const m = s !== '' ? masqueradeAddress(config, s) : undefined;
    if (m) {
      rewrites.push(`${label}: envelope sender ${s} -> ${m}`);
      s = m;
    }
    for (const key of ['from', 'sender']) {
      h.mapAddresses(key, (a) => {
        const n = masqueradeAddress(config, a);
        if (n && n !== a) rewrites.push(`${label}: ${key === 'from' ? 'From' : 'Sender'}: ${a} -> ${n}`);
        return n;
      });
    }
  }
  const relay = relayName ? config.relays?.[relayName] : undefined;
  if (relay?.forceSender) s = sendAs(h, s, relay.forceSender, `force_sender (relay ${relayName})`, () => true, rewrites);
  else if (!entry && !config.masquerade) {
    // A sender_table entry or masquerading chose the sender on purpose: the login rule leaves it alone.
    const login = loginAddress(relay);
    if (login) s = sendAs(h, s, login, `login address (relay ${relayName})`, (a) => isLocalSender(config, a), rewrites);
  }
  return { sender: s, header: rewrites.length > 0 ? h.text() : header, rewrites };
}

/**
 * Split one message's recipients into delivery groups (relay or hold, and sender_table entry),
 * each recipient in exactly one group, in the order recipients were given, and rewrite each
 * group's sender and header. Routing sees the original sender and From:, before rewriting.
 */
export function planDelivery(config: ConfigForPlan, msg: PlanInput): DeliveryGroup[] {
  const fromAddr = fromAddressOf(msg.header);
  const groups = new Map<string, { route: Route; entry: SenderTableEntry | undefined; recipients: string[] }>();
  const seen = new Set<string>();
  for (const rcpt of msg.recipients) {
    // Exact strings: submission already de-duplicated (local parts are case-sensitive), and the
    // runner maps each group's addresses back to its recipient records by these strings.
    if (seen.has(rcpt)) continue;
    seen.add(rcpt);
    const { route } = explainRoute(config, msg.sender, rcpt, fromAddr);
    const entry = senderEntryFor(config, rcpt);
    const key = `${'hold' in route ? '\0hold' : route.relay}\0${entry ? config.senderTable!.indexOf(entry) : -1}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { route, entry, recipients: [] }));
    g.recipients.push(rcpt);
  }
  const out: DeliveryGroup[] = [];
  for (const g of groups.values()) {
    const relay = 'relay' in g.route ? g.route.relay : undefined;
    if (!relay) {
      out.push({ route: g.route, recipients: g.recipients, sender: msg.sender, header: msg.header, rewrites: [] });
      continue;
    }
    const r = rewriteSender(config, relay, msg.sender, msg.header, g.entry);
    out.push(requalifyGroup(config, { route: g.route, relay, recipients: g.recipients, sender: r.sender, header: r.header, rewrites: r.rewrites }));
  }
  return out;
}
