/**
 * relay/url.ts — the relay URL grammar, the one of the program (the file loader, the
 * environment relay, `outbox check`, `outbox config check` and delivery all read URLs here),
 * and the one spelling of a certificate fingerprint pin. Pure.
 *
 *   smtp+starttls://[user@]host[:port]   STARTTLS required, port 587 (the default scheme; also
 *                                        "submission://" and a bare host[:port])
 *   smtps://[user@]host[:port]           implicit TLS, port 465 (also "submissions://")
 *   smtp://host[:port]                   plaintext, port 25, never AUTH
 * A password in the URL is refused. Returns the parts or an error message; relay/relay.ts
 * parseRelayUrl gives the parts delivery's shape and throws.
 */
import { isDomain } from '../message/address.js';

export interface ParsedRelayUrl {
  scheme: 'smtp+starttls' | 'smtps' | 'smtp';
  /** 'starttls' | 'implicit' | 'none' */
  tls: 'starttls' | 'implicit' | 'none';
  host: string;
  port: number;
  user?: string;
}

export const SCHEMES: Record<string, { tls: ParsedRelayUrl['tls']; port: number }> = {
  'smtp+starttls': { tls: 'starttls', port: 587 },
  smtps: { tls: 'implicit', port: 465 },
  smtp: { tls: 'none', port: 25 },
  submission: { tls: 'starttls', port: 587 },
  submissions: { tls: 'implicit', port: 465 },
};

/**
 * Check a relay URL's form: smtp+starttls://[user@]host[:port] (port 587 by default),
 * smtps://[user@]host[:port] (465), smtp://host[:port] (25, plaintext, never AUTH).
 * Returns the parts, or an error message. relay/relay.ts parseRelayUrl wraps this.
 */
export function checkRelayUrl(url: string): ParsedRelayUrl | { error: string } {
  // A bare host[:port] means smtp+starttls.
  const full = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url) ? url : /^[A-Za-z0-9.[\]:-]+$/.test(url) ? `smtp+starttls://${url}` : url;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(full);
  if (!m) return { error: `"${url}" is not a URL (expected smtp+starttls://user@host:587, smtps://user@host:465 or smtp://host:25)` };
  const scheme = m[1]!.toLowerCase();
  const s = SCHEMES[scheme];
  if (!s) return { error: `unknown scheme "${scheme}" (expected smtp+starttls, smtps or smtp)` };
  let rest = m[2]!;
  if (/[/?#]/.test(rest.replace(/\/$/, ''))) return { error: 'a relay URL has no path, query or fragment' };
  rest = rest.replace(/\/$/, '');
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (userinfo.includes(':')) {
      return {
        error: 'the URL holds a password: remove it and use password_file, password_command or password_env (for OUTBOX_RELAY: OUTBOX_RELAY_PASSWORD_FILE)',
      };
    }
    try {
      user = decodeURIComponent(userinfo);
    } catch {
      return { error: `bad %-escape in the user name` };
    }
    if (user === '') return { error: 'empty user name before "@"' };
  }
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end < 0) return { error: 'unclosed "[" in the host' };
    host = rest.slice(1, end);
    const after = rest.slice(end + 1);
    if (after !== '' && !after.startsWith(':')) return { error: `unexpected "${after}" after the host` };
    portText = after ? after.slice(1) : undefined;
    if (!/^[0-9A-Fa-f:.]+$/.test(host)) return { error: `"[${host}]" is not an IPv6 address` };
  } else {
    const colon = rest.lastIndexOf(':');
    host = colon >= 0 ? rest.slice(0, colon) : rest;
    portText = colon >= 0 ? rest.slice(colon + 1) : undefined;
    if (host === '') return { error: 'no host name' };
    if (!isDomain(host)) return { error: `"${host}" is not a host name` };
  }
  let port = s.port;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return { error: `"${portText}" is not a port number (1-65535)` };
    }
    port = Number(portText);
  }
  if (s.tls === 'none' && user !== undefined) {
    return { error: 'smtp:// is plaintext and never authenticates: use smtp+starttls:// or smtps:// to log in' };
  }
  const canonical = s.tls === 'starttls' ? 'smtp+starttls' : s.tls === 'implicit' ? 'smtps' : 'smtp';
  return { scheme: canonical, tls: s.tls, host, port, ...(user !== undefined ? { user } : {}) };
}

/**
 * SHA-256 fingerprint: 64 hex digits, colons optional, "sha256:" prefix optional; returned as
 * upper-case "AA:BB:..", as Node gives a certificate's fingerprint256 (relay/tls.ts compares so).
 */
export function normalizeFingerprint(s: string): string | null {
  const hex = s.replace(/^sha256[:/]/i, '').replace(/:/g, '');
  if (!/^[0-9A-Fa-f]{64}$/.test(hex)) return null;
  return hex.toUpperCase().match(/../g)!.join(':');
}
