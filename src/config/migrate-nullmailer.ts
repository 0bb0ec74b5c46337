/**
 * config/migrate-nullmailer.ts — nullmailer's remotes as outbox.conf: one relay per line, the
 * later ones become fallbacks of the first; defaultdomain and me when given. Pure; see
 * config/migrate.ts.
 */
import { NO_UNVERIFIED_TLS, Out, q, relayName, urlFor } from './migrate-out.js';

export function migrateNullmailer(file: string, text: string, extra: { defaultdomain?: string; me?: string } = {}): string {
  const out = new Out();
  const names: string[] = [];
  const blocks: string[][] = [];
  text.split('\n').forEach((raw, i) => {
    const l = raw.trim();
    if (l === '' || l.startsWith('#')) return;
    const words = l.split(/\s+/);
    const host = words[0]!;
    const proto = words[1] && !words[1].startsWith('-') ? words[1] : 'smtp';
    if (proto !== 'smtp' && proto !== 'qmqp') {
      out.note(`${file}:${i + 1}: protocol "${proto}" unknown; line left out`);
      return;
    }
    if (proto === 'qmqp') {
      out.note(`${file}:${i + 1}: QMQP is not supported; line left out`);
      return;
    }
    const opts = new Map<string, string>();
    for (const w of words.slice(proto === words[1] ? 2 : 1)) {
      const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(w);
      if (m) opts.set(m[1]!, m[2] ?? '');
      else out.note(`${file}:${i + 1}: "${w}" not understood`);
    }
    let tls: 'starttls' | 'implicit' | 'none' = opts.has('ssl') ? 'implicit' : opts.has('starttls') ? 'starttls' : 'none';
    const user = opts.get('user');
    if (user && tls === 'none') {
      out.note(`${file}:${i + 1}: authentication without --ssl/--starttls; Outbox never sends a password without TLS, so this relay uses STARTTLS`);
      tls = 'starttls';
    }
    const port = opts.has('port') ? Number(opts.get('port')) : undefined;
    let n = relayName(host.split('.')[0]!);
    while (names.includes(n)) n += '-2';
    names.push(n);
    const lines = [`# from ${file}:${i + 1}`, `[relay.${n}]`, `url = ${q(urlFor(tls, host, port, user))}`];
    if (user) {
      lines.push(`password_file = ${q(`/etc/outbox/${n}.password`)}   # create it (mode 0600) with the --pass value from remotes`);
      out.note(`${host}: the password was not copied; put it in /etc/outbox/${n}.password (chmod 600)`);
    }
    if (opts.has('x509cafile')) lines.push(`ca_file = ${q(opts.get('x509cafile')!)}`);
    if (opts.has('x509certfile'))
      lines.push(`client_cert = ${q(opts.get('x509certfile')!)}`, `client_key = ${q(opts.get('x509keyfile') ?? opts.get('x509certfile')!)}`);
    if (opts.has('auth-login')) lines.push('auth = "LOGIN"');
    if (opts.has('insecure')) out.note(`${host}: --insecure is not supported: ${NO_UNVERIFIED_TLS}`);
    if (opts.has('x509fmtdef') || opts.has('x509crlfile')) out.note(`${host}: x509 format/CRL options have no equivalent`);
    blocks.push(lines);
  });
  if (blocks.length > 1) {
    blocks[0]!.push(`fallbacks = [${names.slice(1).map(q).join(', ')}]   # nullmailer tried the remotes in order`);
  }
  for (const b of blocks) out.relays.push(...b, '');
  if (extra.me) out.top.push(`hostname = ${q(extra.me.trim())}   # from me`);
  if (extra.defaultdomain) out.top.push(`domain = ${q(extra.defaultdomain.trim())}   # from defaultdomain`);
  if (blocks.length === 0) out.note(`${file}: no remote found`);
  return out.render(file);
}
