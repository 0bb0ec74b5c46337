/**
 * relay/tls.ts — the one TLS policy for talking to a relay. Delivery and
 * `outbox check` both open their TLS sessions with relayTlsOptions() (relay/connect.ts), so
 * check trusts exactly what delivery trusts and judges a certificate exactly as delivery does:
 *   - trusted roots: systemCas() (the system bundle, else Node's) plus the relay's ca_file
 *     (OUTBOX_RELAY_CA for the environment's relay);
 *   - the chain must verify (rejectUnauthorized), TLS 1.2 at least;
 *   - the host name of the URL must be in the certificate;
 *   - a SHA-256 pin (fingerprint), when given, must match too: in addition to verification,
 *     never instead of it (for a self-signed relay, give its certificate as the CA file).
 * Also the relay's timeouts (relayTimeouts), which both use.
 *
 * Throws plain Errors with one line saying what is wrong (the caller adds the relay's name).
 */
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { createHash } from 'node:crypto';
import { normalizeFingerprint } from './url.js';
import type { RelaySettings } from '../config/types.js';

let systemCaCache: string[] | undefined;

/** Distribution CA bundles (Debian/Ubuntu/Alpine, then RHEL/Fedora), maintained by update-ca-certificates. */
export const SYSTEM_CA_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'];

/**
 * The trusted roots: $OUTBOX_CA_BUNDLE when set, else the system's CA bundle file when there is one (the operator's trust,
 * including local additions and removals, as msmtp and Postfix use it; parsing it costs ~9 ms),
 * else the system store as Node reads it, else Node's bundled Mozilla roots (a container
 * without ca-certificates).
 */
export function systemCas(): string[] {
  if (systemCaCache) return systemCaCache;
  // OUTBOX_CA_BUNDLE: another bundle in place of the system's (a container's own CA file).
  // OpenSSL's SSL_CERT_FILE is a caller's variable like any other: ignored (src/runtime-env.ts).
  const override = process.env.OUTBOX_CA_BUNDLE?.trim();
  for (const f of override ? [override] : SYSTEM_CA_BUNDLES) {
    try {
      systemCaCache = [fs.readFileSync(f, 'utf8')];
      return systemCaCache;
    } catch {
      // next candidate
    }
  }
  const get = (tls as unknown as { getCACertificates?: (t: string) => string[] }).getCACertificates;
  let system: string[] = [];
  try {
    if (get) system = [...new Set(get('system'))];
  } catch {
    system = [];
  }
  systemCaCache = system.length > 0 ? system : get ? get('bundled') : [...tls.rootCertificates];
  return systemCaCache;
}

/** The relay's timeouts, the same for delivery and `outbox check`. */
export function relayTimeouts(s: RelaySettings): { connectMs: number; greetingMs: number; commandMs: number } {
  return {
    connectMs: s.connectTimeoutMs ?? 30_000,
    greetingMs: s.greetingTimeoutMs ?? 30_000,
    commandMs: Math.max(s.commandTimeoutMs ?? 120_000, s.dataTimeoutMs ?? 0),
  };
}

/** The secure context of a relay: trusted roots (system + ca_file), client certificate. Throws. */
export function relaySecureContext(s: RelaySettings): tls.SecureContext {
  const ca = [...systemCas()];
  if (s.caFile) {
    try {
      ca.push(fs.readFileSync(s.caFile, 'utf8'));
    } catch (e) {
      throw new Error(`CA file ${s.caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  try {
    return tls.createSecureContext({
      ca,
      minVersion: 'TLSv1.2',
      ...(s.clientCert ? { cert: fs.readFileSync(s.clientCert) } : {}),
      ...(s.clientKey ? { key: fs.readFileSync(s.clientKey) } : {}),
    });
  } catch (e) {
    throw new Error(`TLS settings: ${(e as Error).message}`);
  }
}

/** The relay's pins in the one fingerprint format of the program ("AA:BB:..", relay/url.ts). */
export function relayPins(s: RelaySettings): string[] {
  return (s.fingerprints ?? []).map((f) => normalizeFingerprint(f) ?? f);
}

/** What the certificate names, for messages: its subjectAltName list, else its CN. */
export function certNames(cert: Pick<tls.PeerCertificate, 'subjectaltname' | 'subject'>): string {
  return cert.subjectaltname || `CN=${cert.subject?.CN ?? '?'}`;
}

/**
 * The identity check after a verified chain: the host name of the URL, then the pins. Errors
 * carry Node's code (ERR_TLS_CERT_ALTNAME_INVALID) or ERR_OUTBOX_PIN_MISMATCH and our wording
 * (Node's says "...is not in the cert's list: " with an empty list when the URL holds an IP).
 */
export function relayIdentityCheck(pins: string[]): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  return (host, cert) => {
    const err = tls.checkServerIdentity(host, cert);
    if (err) {
      err.message = `the certificate is for another host: it names ${certNames(cert)}, the relay URL says ${host}`;
      return err;
    }
    if (pins.length > 0 && !pins.includes(normalizeFingerprint(cert.fingerprint256 ?? '') ?? '')) {
      return Object.assign(new Error(`certificate fingerprint ${cert.fingerprint256} is not pinned`), { code: 'ERR_OUTBOX_PIN_MISMATCH' });
    }
    return undefined;
  };
}

/** The options of every TLS session to a relay (tls.connect / nodemailer's `tls`). */
export function relayTlsOptions(secureContext: tls.SecureContext, pins: string[]): tls.ConnectionOptions & { secureContext: tls.SecureContext } {
  return { secureContext, rejectUnauthorized: true, minVersion: 'TLSv1.2', checkServerIdentity: relayIdentityCheck(pins) };
}

/** SHA-256 fingerprint of a PEM certificate, in the one format ("AA:BB:..", relay/url.ts normalizeFingerprint): for tests and people. */
export function pemFingerprint(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return normalizeFingerprint(createHash('sha256').update(der).digest('hex'))!;
}
