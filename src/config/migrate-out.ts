/**
 * config/migrate-out.ts — what the translations of `outbox config migrate` share: the Out
 * buffer (top-level keys, [relay.NAME] tables, [[route]] entries and `# NOTE:` lines, rendered as
 * one outbox.conf), relay names and URLs, and the notes about certificate verification. Pure.
 * The translations: config/migrate-msmtp.ts, config/migrate-dma.ts, config/migrate-nullmailer.ts.
 */

/** What replaces "do not verify the certificate": Outbox always verifies (relay/tls.ts). */
export const NO_UNVERIFIED_TLS =
  'certificates are always verified; for a self-signed or private-CA relay set ca_file to its certificate (or its CA). A fingerprint pin does not replace this: it is checked in addition to verification, so a pin alone does not make an unverifiable certificate acceptable';
/** A pin migrated from a tool where it replaced verification. */
export const PIN_IS_NOT_TRUST =
  "the fingerprint pin is kept, but in Outbox it is checked in addition to verification, not instead of it: if the relay's certificate is self-signed or from a private CA, also set ca_file to it (`outbox check` tells)";

export const q = (s: string) => JSON.stringify(s);

export function relayName(s: string): string {
  const n =
    s
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'relay';
  return n === 'hold' || n === 'env' ? `${n}-relay` : n;
}

function hostPart(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export function urlFor(tls: 'starttls' | 'implicit' | 'none', host: string, port: number | undefined, user: string | undefined): string {
  const scheme = tls === 'implicit' ? 'smtps' : tls === 'starttls' ? 'smtp+starttls' : 'smtp';
  const def = tls === 'implicit' ? 465 : tls === 'starttls' ? 587 : 25;
  const u = user && tls !== 'none' ? `${encodeURIComponent(user)}@` : '';
  return `${scheme}://${u}${hostPart(host)}${port && port !== def ? `:${port}` : ''}`;
}

export class Out {
  top: string[] = [];
  relays: string[] = [];
  routes: string[] = [];
  notes: string[] = [];
  note(s: string): void {
    this.notes.push(s);
  }
  render(header: string): string {
    const parts = [`# outbox.conf translated from ${header} by \`outbox config migrate\`.`, '# Check it with: outbox config check -C FILE', ''];
    if (this.notes.length) {
      parts.push(...this.notes.map((n) => `# NOTE: ${n}`), '');
    }
    if (this.top.length) parts.push(...this.top, '');
    parts.push(...this.relays);
    parts.push(...this.routes);
    return parts
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .replace(/\n*$/, '\n');
  }
}
