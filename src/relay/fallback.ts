/**
 * relay/fallback.ts — may a relay's fallback take its mail? Pure.
 *
 * A fallback must never be less protected than the relay that failed for TLS reasons: a man in
 * the middle who answers STARTTLS with 502, or shows a self-signed certificate, must not get the
 * message sent in clear to a plain `smtp://` fallback. Protection, weakest first:
 *   - transport: `smtp://` (plain) < `smtp+starttls://` = `smtps://` (TLS required, verified);
 *   - among TLS relays: certificate pins (`fingerprint`) are stronger than CA verification alone.
 * ca_file is not ranked: every TLS relay verifies against the system CAs plus its own file, and
 * neither set of anchors is provably a subset of the other's.
 * The runner (runner/fallbacks.ts sessionWithFallbacks) skips a weaker fallback after a TLS failure
 * (connection failures still use it); `outbox config check` warns about every weaker fallback.
 */
import type { RelaySettings } from '../config/types.js';
import { checkRelayUrl } from './url.js';

/** 0 = plain, 1 = TLS verified by CAs, 2 = TLS with certificate pins; null for a bad URL. */
function strength(r: RelaySettings): number | null {
  const u = checkRelayUrl(r.url.trim());
  if ('error' in u) return null;
  if (u.tls !== 'starttls' && u.tls !== 'implicit') return 0;
  return (r.fingerprints?.length ?? 0) > 0 ? 2 : 1;
}

const WORDS = ['plain SMTP without TLS', 'TLS verified by CAs without a certificate pin', 'TLS with a pinned certificate'];

/** Why `fallback` is weaker than `primary`, or null when it is not. */
export function weakerFallback(fallback: RelaySettings, primary: RelaySettings): string | null {
  const f = strength(fallback);
  const p = strength(primary);
  if (f === null || p === null || f >= p) return null;
  return `fallback ${fallback.name} (${WORDS[f]}) is weaker than relay ${primary.name} (${WORDS[p]})`;
}

/** `config check` warnings: one per fallback weaker than the relay that names it. */
export function fallbackWarnings(relays: Record<string, RelaySettings> | undefined): string[] {
  const out: string[] = [];
  for (const r of Object.values(relays ?? {})) {
    for (const name of r.fallbacks ?? []) {
      const fb = relays?.[name];
      const why = fb ? weakerFallback(fb, r) : null;
      if (why) out.push(`relay.${r.name}.fallbacks: ${why}; after a TLS failure of ${r.name} it is skipped (mail stays queued)`);
    }
  }
  return out;
}
