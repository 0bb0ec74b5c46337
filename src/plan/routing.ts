/**
 * plan/routing.ts — which relay handles a recipient (sendmail's mailertable and msmtp's
 * accounts, as data). Pure: configuration and addresses in, a relay name (or "hold") out.
 *
 * Rules are the [[route]] entries of the file, tried in file order; the first rule whose every
 * given condition matches wins:
 *   domain = "example.com"      the recipient's domain is exactly example.com
 *   domain = ".example.com"     any subdomain of example.com (not example.com itself)
 *   sender = "billing@shop.example" / "@shop.example" / "shop.example" / ".shop.example"
 *                               the envelope sender (exact address, domain, subdomains)
 *   from = ...                  the same, matched against the From: header address
 *   relay = "NAME" | "hold"     where matching mail goes; "hold" keeps it in the queue
 * No rule matches: `default_relay`, else the first [relay.NAME], else "env" (OUTBOX_RELAY,
 * see relay/env.ts). Fallbacks (relay.NAME.fallbacks) are the runner's business: a
 * route names the first relay to try.
 *
 * Never throws. Where to look next: plan/rewrite.ts (what is sent through that relay).
 */
import { splitAddress } from '../message/address.js';
import type { Config } from '../config/config.js';
import type { RouteRule } from '../config/types.js';

export type Route = { relay: string } | { hold: true };

/** Why a recipient went where it went (for sendmail -bv and the runner's log). */
export interface RouteExplained {
  route: Route;
  /** The rule that matched (null: the default). */
  rule: RouteRule | null;
  /** 1-based rule number in the file's [[route]] order, if a rule matched. */
  ruleIndex?: number;
  why: string;
}

function domainOf(address: string): string {
  return (splitAddress(address).domain ?? '').toLowerCase().replace(/\.$/, '');
}

/** Does `domain` match an exact domain or a ".subdomain" pattern? */
export function domainMatches(pattern: string, domain: string): boolean {
  const p = pattern.toLowerCase();
  const d = domain.toLowerCase().replace(/\.$/, '');
  if (p.startsWith('.')) return d.endsWith(p) && d.length > p.length;
  return d === p;
}

/** Does an address match "user@domain" (exact, case-insensitive), "@domain"/"domain", ".domain"? */
export function addressMatches(pattern: string, address: string | undefined): boolean {
  if (address === undefined || address === '') return false;
  if (pattern.includes('@') && !pattern.startsWith('@')) return pattern.toLowerCase() === address.toLowerCase();
  const p = pattern.startsWith('@') ? pattern.slice(1) : pattern;
  return domainMatches(p, domainOf(address));
}

/** The relay used when no rule matches. */
export function defaultRelayName(config: Pick<Config, 'defaultRelay' | 'relays'>): string {
  return config.defaultRelay ?? Object.keys(config.relays ?? {})[0] ?? 'env';
}

export function explainRoute(
  config: Pick<Config, 'routes' | 'defaultRelay' | 'relays'>,
  envelopeSender: string,
  recipient: string,
  fromAddress?: string,
): RouteExplained {
  const rdom = domainOf(recipient);
  const rules = config.routes ?? [];
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!;
    if (r.recipientDomain !== undefined && !domainMatches(r.recipientDomain, rdom)) continue;
    if (r.sender !== undefined && !addressMatches(r.sender, envelopeSender)) continue;
    if (r.from !== undefined && !addressMatches(r.from, fromAddress)) continue;
    const conds = [
      r.recipientDomain !== undefined ? `domain ${r.recipientDomain}` : '',
      r.sender !== undefined ? `sender ${r.sender}` : '',
      r.from !== undefined ? `from ${r.from}` : '',
    ].filter(Boolean);
    const where = `route ${conds.join(' + ')}${r.line ? ` (line ${r.line})` : ''}`;
    if (r.relay === 'hold') return { route: { hold: true }, rule: r, ruleIndex: i + 1, why: `${where}: hold (kept in the queue, never relayed)` };
    return { route: { relay: r.relay }, rule: r, ruleIndex: i + 1, why: `${where}: relay ${r.relay}` };
  }
  const d = defaultRelayName(config);
  const why =
    config.defaultRelay !== undefined
      ? `no route matches: default_relay ${d}`
      : d === 'env'
        ? 'no route matches and no [relay] in the file: the relay from OUTBOX_RELAY'
        : `no route matches: the first relay, ${d}`;
  return { route: { relay: d }, rule: null, why };
}

/** The one routing function: which relay (or hold) for this recipient of this sender. */
export function routeRecipient(
  config: Pick<Config, 'routes' | 'defaultRelay' | 'relays'>,
  envelopeSender: string,
  recipient: string,
  fromAddress?: string,
): Route {
  return explainRoute(config, envelopeSender, recipient, fromAddress).route;
}
