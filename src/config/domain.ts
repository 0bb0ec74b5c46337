/**
 * config/domain.ts — whether this host's mail domain can work: the login-address rule's address
 * (loginAddress), the WARN line for a domain relays refuse (domainWarning), and the report of
 * both that `outbox check` and `outbox config check` print (domainReport). Where the domain comes
 * from: config/domain-choice.ts (chooseDomain), re-exported here.
 */
import { checkRelayUrl, type FileSettings } from './file.js';
import type { RelaySettings } from './types.js';
import { type DomainChoice, unusableName } from './domain-choice.js';

export * from './domain-choice.js';

/**
 * The WARN line for a domain that cannot work, with the fix; null when the domain is fine.
 * `sentAs`: the address the default relay sends local senders as (its login, or force_sender):
 * then the sender still gets out, but bare recipients such as `root` still cannot.
 */
export function domainWarning(choice: DomainChoice, sentAs?: string): string | null {
  const why = unusableName(choice.domain);
  if (!why) return null;
  const d = choice.domain;
  const effect = sentAs
    ? `local senders go out as ${sentAs}, but local names such as root become root@${d}, which relays refuse`
    : `relays refuse senders such as root@${d} ("need fully-qualified address")`;
  return `domain "${d}" (from ${choice.source}) ${why}: ${effect}; fix: set OUTBOX_DOMAIN=example.com (or domain = "example.com" in the configuration, or write the domain to /etc/mailname)`;
}

const loginCache = new Map<string, string | undefined>();

/**
 * The login-address rule: the relay's login (the URL's user) when it is an email address and
 * the rule is not switched off (login_sender = false, OUTBOX_RELAY_LOGIN_SENDER=no). Providers
 * that log in with an address (Gmail, Microsoft 365, Fastmail, Zoho...) accept only that sender.
 */
export function loginAddress(relay: RelaySettings | undefined): string | undefined {
  if (!relay || relay.loginSender === false) return undefined;
  if (!loginCache.has(relay.url)) {
    const u = checkRelayUrl(relay.url);
    const user = 'error' in u ? undefined : u.user;
    loginCache.set(relay.url, user !== undefined && /^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$/.test(user) ? user : undefined);
  }
  return loginCache.get(relay.url);
}

/**
 * Which domain senders get and where it came from, with a WARN line (and the fix) for a name
 * relays refuse. Shared by `outbox check` and `outbox config check`.
 */
export function domainReport(config: Pick<FileSettings, 'defaultRelay'> & { domain: string; domainSource?: string }, relays: RelaySettings[]): string[] {
  const choice = { domain: config.domain, source: config.domainSource ?? 'the configuration' };
  const def = relays.find((r) => r.name === 'env') ?? relays.find((r) => r.name === config.defaultRelay) ?? relays[0];
  const sentAs = def?.forceSender ?? loginAddress(def);
  const warning = domainWarning(choice, sentAs);
  return [`domain ${choice.domain} (from ${choice.source})`, ...(warning ? [`  WARN ${warning}`] : [])];
}
