/**
 * config/domain.ts — this host's mail domain: where it comes from, and whether it can work.
 *
 * Also the login-address rule's address (loginAddress) and the report of both that `outbox
 * check` and `outbox config check` print (domainReport).
 *
 * The domain qualifies bare local names (`root` -> root@DOMAIN) and makes the default sender
 * (USER@DOMAIN). First match wins (README "Where the domain comes from"):
 *   1. OUTBOX_DOMAIN, then `domain` in the configuration file (the environment wins, as
 *      OUTBOX_RELAY does: a container's settings override a file baked into its image);
 *   2. /etc/mailname, first line (Debian's convention: exim4, dma, nullmailer and Postfix read it);
 *   3. the host's fully qualified name: the host name itself when it has a dot, else the first
 *      name of the /etc/hosts line that lists the host name when that name has a dot (what
 *      `hostname -f` finds with nsswitch's "files" first, as Debian's installer writes it:
 *      `127.0.1.1 vm.example.com vm`);
 *   4. the bare host name.
 * Cost: this runs on every `sendmail` call, so it reads at most two small local files and never
 * asks DNS. A name found later (OUTBOX_DOMAIN set for the daemon but not for a submitter) still
 * fixes the sender at delivery: plan/rewrite.ts requalifies local senders at a name without a
 * dot with the runner's domain.
 *
 * Pure apart from reading those two files (paths injectable for tests). An unreadable or invalid
 * file is skipped; an invalid OUTBOX_DOMAIN throws OutboxError(EX_CONFIG), like a bad OUTBOX_RELAY.
 */
import * as fs from 'node:fs';
import { EX_CONFIG, OutboxError } from '../sysexits.js';
import type { FileSettings } from './file.js';
import { checkRelayUrl } from '../relay/url.js';
import type { RelaySettings } from './types.js';

export const MAILNAME = '/etc/mailname';
export const HOSTS = '/etc/hosts';

export interface DomainChoice {
  domain: string;
  /** Which source won, as printed by `config check`, `check` and `-bv`. */
  source: string;
}

export interface DomainInputs {
  env: NodeJS.ProcessEnv;
  /** `domain` from the configuration file, and the file's name. */
  fileDomain?: string | undefined;
  file?: string | null;
  /** This host's name (`hostname` in the file, or the system's). */
  hostname: string;
  mailnameFile?: string;
  hostsFile?: string;
}

const DOMAIN = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** A syntactically valid domain name (ASCII labels), trailing dot removed; else undefined. */
function validDomain(s: string | undefined): string | undefined {
  const t = s?.trim();
  return t && DOMAIN.test(t) ? t.replace(/\.$/, '') : undefined;
}

function readSmall(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
}

/** The canonical (first) name of the /etc/hosts line listing `host`, when it is a usable FQDN. */
export function fqdnFromHosts(text: string, host: string): string | undefined {
  const h = host.toLowerCase();
  for (const raw of text.split('\n')) {
    const names = raw.replace(/#.*/, '').trim().split(/\s+/).slice(1);
    if (!names.some((n) => n.toLowerCase() === h)) continue;
    const canonical = validDomain(names[0]);
    if (canonical && unusableName(canonical) === null) return canonical.toLowerCase();
  }
  return undefined;
}

/** The domain and the source that gave it (first match wins, see the header). */
export function chooseDomain(i: DomainInputs): DomainChoice {
  const fromEnv = i.env.OUTBOX_DOMAIN?.trim();
  if (fromEnv) {
    const d = validDomain(fromEnv);
    if (!d) throw new OutboxError(EX_CONFIG, `OUTBOX_DOMAIN: ${JSON.stringify(fromEnv)} is not a domain name (e.g. OUTBOX_DOMAIN=example.com)`);
    return { domain: d, source: 'OUTBOX_DOMAIN' };
  }
  if (i.fileDomain) return { domain: i.fileDomain, source: `domain in ${i.file ?? 'the configuration'}` };
  const mailnameFile = i.mailnameFile ?? MAILNAME;
  const mailname = validDomain(readSmall(mailnameFile)?.split('\n')[0]);
  if (mailname) return { domain: mailname, source: mailnameFile };
  if (i.hostname.includes('.')) return { domain: i.hostname, source: 'the host name (fully qualified)' };
  const hostsFile = i.hostsFile ?? HOSTS;
  const text = readSmall(hostsFile);
  const fqdn = text === undefined ? undefined : fqdnFromHosts(text, i.hostname);
  if (fqdn) return { domain: fqdn, source: `the host's fully qualified name (${hostsFile})` };
  return { domain: i.hostname, source: 'the bare host name' };
}

/**
 * Why a name cannot be a mail domain that relays accept, or null when it can: no dot (a bare
 * host name such as `vm`), `localhost`, or `localdomain` (Debian's placeholder). Pure.
 */
export function unusableName(name: string): string | null {
  const d = name.toLowerCase().replace(/\.$/, '');
  if (d === 'localhost' || d.startsWith('localhost.')) return 'is localhost';
  if (d === 'localdomain' || d.endsWith('.localdomain')) return 'ends in localdomain (a placeholder, not a real domain)';
  if (!d.includes('.')) return 'has no dot (a bare host name)';
  return null;
}

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
