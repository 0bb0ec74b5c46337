/**
 * config/migrate-dma.ts — a dma configuration (dma.conf: SMARTHOST, PORT, SECURETRANSFER,
 * STARTTLS, MASQUERADE, ALIASES, ...; plus auth.conf, `user|host:password`) as outbox.conf.
 * Pure; see config/migrate.ts.
 */
import { Out, PIN_IS_NOT_TRUST, q, relayName, urlFor } from './migrate-out.js';

export function migrateDma(file: string, text: string, authText?: string): string {
  const out = new Out();
  const set = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    if (l === '' || l.startsWith('#')) continue;
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    set.set(m[1]!.toUpperCase(), m[2]!.trim());
  }
  const host = set.get('SMARTHOST');
  if (!host) {
    out.note(`${file}: no SMARTHOST: dma delivered directly to MX hosts, which Outbox does not do; add a [relay.NAME]`);
    return out.render(file);
  }
  const port = set.has('PORT') ? Number(set.get('PORT')) : undefined;
  let tls: 'starttls' | 'implicit' | 'none' = set.has('SECURETRANSFER') ? (set.has('STARTTLS') ? 'starttls' : 'implicit') : 'none';
  let user: string | undefined;
  let hasPassword = false;
  for (const raw of (authText ?? '').split('\n')) {
    const l = raw.trim();
    if (l === '' || l.startsWith('#')) continue;
    const m = /^([^|]+)\|([^:]+):(.*)$/.exec(l);
    if (m && m[2]!.toLowerCase() === host.toLowerCase()) {
      user = m[1];
      hasPassword = m[3] !== '';
    }
  }
  if (tls === 'none' && user) {
    out.note('dma authenticated without SECURETRANSFER (or with INSECURE); Outbox never sends a password without TLS, so the relay uses STARTTLS');
    tls = 'starttls';
  }
  if (tls === 'none' && port === 587) {
    tls = 'starttls';
    out.note('PORT 587 without SECURETRANSFER: translated as STARTTLS, which port 587 normally requires');
  }
  if (set.has('OPPORTUNISTIC_TLS')) out.note('OPPORTUNISTIC_TLS: Outbox never falls back to plaintext; STARTTLS is required when the URL says smtp+starttls');
  if (set.has('INSECURE')) out.note('INSECURE (AUTH over plaintext) is not supported');
  const n = relayName(host.split('.')[0] ?? 'smarthost');
  const lines = [`# from ${file}`, `[relay.${n}]`, `url = ${q(urlFor(tls, host, port, user))}`];
  if (user) {
    lines.push(`password_file = ${q(`/etc/outbox/${n}.password`)}   # create it (mode 0600) with the password from auth.conf`);
    out.note(`the password for ${user} was not copied; put it in /etc/outbox/${n}.password (chmod 600)`);
    if (!hasPassword) out.note(`auth.conf has an empty password for ${user}`);
  } else if (set.has('AUTHPATH') && authText === undefined) {
    out.note(`AUTHPATH ${set.get('AUTHPATH')} was not read; give it with --auth FILE to translate the user name`);
  }
  if (set.has('CERTFILE')) {
    lines.push(`client_cert = ${q(set.get('CERTFILE')!)}`, `client_key = ${q(set.get('CERTFILE')!)}   # dma keeps key and certificate in one file`);
  }
  if (set.has('FINGERPRINT')) {
    const fp = set.get('FINGERPRINT')!;
    const hex = fp.replace(/:/g, '');
    if (/^[0-9A-Fa-f]{64}$/.test(hex)) {
      lines.push(`fingerprint = ${q(fp)}`);
      out.note(`FINGERPRINT: ${PIN_IS_NOT_TRUST}`);
    } else out.note('FINGERPRINT is not a SHA-256 fingerprint; left out');
  }
  out.relays.push(...lines, '');
  if (set.has('MAILNAME')) {
    const mn = set.get('MAILNAME')!;
    if (mn.startsWith('/')) out.note(`MAILNAME names a file (${mn}); put its content in domain = "..."`);
    else out.top.push(`domain = ${q(mn)}`);
  }
  if (set.has('MASQUERADE')) {
    const mq = set.get('MASQUERADE')!;
    const at = mq.lastIndexOf('@');
    if (at >= 0) {
      out.note(`MASQUERADE ${mq}: the user part is not translated; Outbox masquerades the domain only (use force_sender to send everything as one address)`);
      if (mq.slice(at + 1)) out.top.push(`masquerade = ${q(mq.slice(at + 1))}`);
    } else out.top.push(`masquerade = ${q(mq)}`);
  }
  if (set.has('ALIASES')) out.top.push(`aliases = ${q(set.get('ALIASES')!)}`);
  if (set.has('SPOOLDIR'))
    out.note(`SPOOLDIR ${set.get('SPOOLDIR')}: Outbox has its own spool format; messages left in dma's spool must be delivered by dma first`);
  if (set.has('DEFER')) out.top.push('delivery = "queue"   # from DEFER');
  for (const k of ['FULLBOUNCE', 'NULLCLIENT', 'VERIFYCERT'])
    if (set.has(k))
      out.note(`${k}: ${k === 'NULLCLIENT' ? 'Outbox is always a null client' : k === 'VERIFYCERT' ? 'certificates are always verified' : 'no equivalent'}`);
  return out.render(file);
}
