/**
 * config/migrate.ts — translate an msmtp, dma or nullmailer configuration into outbox.conf.
 * Pure: file texts in, TOML text out (with `# NOTE:` comments for whatever does not
 * translate). `outbox config migrate FILE` (commands/config.ts) reads the files and prints it.
 *
 *   msmtp       ~/.msmtprc or /etc/msmtprc: each `account` becomes a [relay.NAME]; an account's
 *               `from` becomes a sender route (msmtp picks the account by envelope sender);
 *               `account default : NAME` becomes default_relay. An OAuth account (`auth
 *               xoauth2|oauthbearer`) whose `passwordeval` runs a known token helper (msmtpOAuth
 *               below) on a host whose provider is known becomes an [relay.NAME.oauth] table;
 *               otherwise its passwordeval is kept as oauth_token_command. A NOTE either way.
 *   dma         dma.conf (SMARTHOST, PORT, SECURETRANSFER, STARTTLS, MASQUERADE, ALIASES, ...)
 *               plus auth.conf (`user|host:password`).
 *   nullmailer  remotes: one relay per line, the later ones become fallbacks of the first;
 *               defaultdomain / me when given.
 * Passwords are never copied into the output: the translation points password_file at a file
 * to create (mode 0600) and says so, so the printed config can be shown and pasted safely.
 * Never throws.
 */

/** What replaces "do not verify the certificate": Outbox always verifies (relay/tls.ts). */
const NO_UNVERIFIED_TLS =
  'certificates are always verified; for a self-signed or private-CA relay set ca_file to its certificate (or its CA). A fingerprint pin does not replace this: it is checked in addition to verification, so a pin alone does not make an unverifiable certificate acceptable';
/** A pin migrated from a tool where it replaced verification. */
const PIN_IS_NOT_TRUST =
  "the fingerprint pin is kept, but in Outbox it is checked in addition to verification, not instead of it: if the relay's certificate is self-signed or from a private CA, also set ca_file to it (`outbox check` tells)";

export type MigrateFormat = 'msmtp' | 'dma' | 'nullmailer';

export interface MigrateInput {
  format: MigrateFormat;
  /** The main file's name and text. */
  file: string;
  text: string;
  /** dma: auth.conf text. */
  authText?: string;
  /** nullmailer: contents of defaultdomain and me, when present. */
  defaultdomain?: string;
  me?: string;
}

const q = (s: string) => JSON.stringify(s);

/** Guess the format from the file name, else from the content. */
export function detectFormat(file: string, text: string): MigrateFormat {
  const base = file.split('/').pop()!.toLowerCase();
  if (base === 'remotes') return 'nullmailer';
  if (base.startsWith('dma')) return 'dma';
  if (base.includes('msmtp')) return 'msmtp';
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (lines.some((l) => /^(account|defaults)\b/.test(l))) return 'msmtp';
  if (lines.some((l) => /^(SMARTHOST|PORT|AUTHPATH|SECURETRANSFER|STARTTLS|MASQUERADE)\b/.test(l))) return 'dma';
  return 'nullmailer';
}

function relayName(s: string): string {
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

function urlFor(tls: 'starttls' | 'implicit' | 'none', host: string, port: number | undefined, user: string | undefined): string {
  const scheme = tls === 'implicit' ? 'smtps' : tls === 'starttls' ? 'smtp+starttls' : 'smtp';
  const def = tls === 'implicit' ? 465 : tls === 'starttls' ? 587 : 25;
  const u = user && tls !== 'none' ? `${encodeURIComponent(user)}@` : '';
  return `${scheme}://${u}${hostPart(host)}${port && port !== def ? `:${port}` : ''}`;
}

class Out {
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

// ---------------------------------------------------------------- msmtp

interface MsmtpAccount {
  name: string;
  line: number;
  set: Map<string, string>;
}

function msmtpValue(raw: string): string {
  const v = raw.trim();
  if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) return v.slice(1, -1).replace(/\\(.)/g, '$1');
  return v;
}

/** Token helpers msmtp users run from `passwordeval` (each prints an access token). */
const OAUTH_HELPERS: { re: RegExp; name: string }[] = [
  { re: /^oauth2token$/, name: 'oauth2token' },
  { re: /^mutt_oauth2(\.py)?$/, name: 'mutt_oauth2.py' },
  { re: /^oama$/, name: 'oama' },
  { re: /^pizauth$/, name: 'pizauth' },
  { re: /^oauth2ms$/, name: 'oauth2ms' },
  { re: /^oauth2l$/, name: 'oauth2l' },
  { re: /^get[-_]?token(\.[a-z]+)?$/i, name: 'a get-token script' },
];
/** Wrappers that are not the helper itself: `python3 mutt_oauth2.py`, `env X=1 oama`. */
const WRAPPERS = /^(env|exec|command|python[0-9.]*|perl|ruby|node|sh|bash)$/;

/** The known token helper a passwordeval command runs, if any. */
export function oauthHelper(command: string): string | undefined {
  for (const w of command.trim().split(/\s+/)) {
    const word = w.replace(/^['"]|['"]$/g, '');
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(word) || word.startsWith('-')) continue;
    const base = word.split('/').pop()!;
    if (WRAPPERS.test(base)) continue;
    return OAUTH_HELPERS.find((h) => h.re.test(base))?.name;
  }
  return undefined;
}

/** The built-in provider preset for an SMTP host, when the host tells. */
export function oauthProvider(host: string): { provider: 'google' | 'microsoft'; tenant?: string } | undefined {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (['smtp.gmail.com', 'smtp.googlemail.com', 'smtp-relay.gmail.com'].includes(h)) return { provider: 'google' };
  if (['smtp.office365.com', 'outlook.office365.com'].includes(h)) return { provider: 'microsoft' };
  if (h === 'smtp-mail.outlook.com') return { provider: 'microsoft', tenant: 'consumers' };
  return undefined;
}

/**
 * An msmtp OAuth account: the relay lines (auth, then oauth_token_command or a trailing
 * [relay.NAME.oauth] table) and the notes. `eval` is the passwordeval command, if any.
 */
function msmtpOAuth(account: string, n: string, mech: string, host: string, evalCmd: string | undefined, out: Out): { keys: string[]; table: string[] } {
  const keys = [`auth = ${q(mech)}`];
  const helper = evalCmd ? oauthHelper(evalCmd) : undefined;
  const preset = oauthProvider(host);
  if (evalCmd && (!helper || !preset)) {
    keys.push(`oauth_token_command = ${q(evalCmd)}`);
    const why = !helper ? 'its passwordeval is not a token helper Outbox knows' : `${host} is not a provider Outbox has a preset for`;
    out.note(
      `account "${account}": ${mech} with passwordeval kept as oauth_token_command (${why}): the command must print a fresh access token each time. The built-in client can replace it: an [relay.${n}.oauth] table (README "OAuth 2.0"), then outbox oauth login ${n}`,
    );
    return { keys, table: [] };
  }
  if (!preset) {
    // No command and no known provider: a custom token endpoint, to be filled in.
    out.note(
      `account "${account}": ${mech} without passwordeval on ${host}: fill in token_url and client_id of your provider in [relay.${n}.oauth], then run outbox oauth login ${n}`,
    );
    return {
      keys,
      table: [
        `[relay.${n}.oauth]`,
        'provider = "custom"',
        'token_url = "https://login.example.com/oauth2/token"   # REPLACE with the token endpoint of your provider',
        'client_id = "REPLACE-WITH-CLIENT-ID"',
      ],
    };
  }
  const p = preset.provider;
  const table = [`[relay.${n}.oauth]`, `provider = ${q(p)}   # guessed from the host ${host}`];
  if (preset.tenant) table.push(`tenant = ${q(preset.tenant)}   # personal Outlook.com accounts`);
  table.push('client_id = "REPLACE-WITH-CLIENT-ID"   # the client ID your token helper used');
  if (p === 'google')
    table.push(`client_secret_file = ${q(`/etc/outbox/${n}.client-secret`)}   # create it (mode 0600): Google's desktop clients have a secret`);
  if (evalCmd) table.push(`# oauth_token_command = ${q(evalCmd)}   # what msmtp ran: the alternative to this table (in [relay.${n}], not both)`);
  const from = helper ? `its passwordeval ran ${helper}` : 'it had no passwordeval';
  out.note(
    `account "${account}": ${mech} (${from}) is now the built-in OAuth client, [relay.${n}.oauth], provider "${p}" guessed from ${host}: fill in client_id${p === 'google' ? ' and client_secret_file' : ''} (a refresh token is bound to the client that obtained it: reuse the helper's client to import its token)`,
  );
  out.note(
    p === 'google'
      ? `account "${account}": then get a refresh token for the scope https://mail.google.com/ (Google's device flow does not grant it; the helper's token store holds one) into a file (chmod 600) and run: outbox oauth login ${n} --import FILE`
      : `account "${account}": then run: outbox oauth login ${n} (device flow, for an app registration with the delegated SMTP.Send permission and public client flows enabled), or outbox oauth login ${n} --import FILE with the helper's refresh token`,
  );
  return { keys, table };
}

const MSMTP_IGNORED = new Set([
  'logfile',
  'syslog',
  'logfile_time_format',
  'protocol',
  'undisclosed_recipients',
  'remove_bcc_headers',
  'dsn_notify',
  'dsn_return',
  'keepbcc',
  'source_ip',
  'proxy_host',
  'proxy_port',
  'socket',
  'tls_priorities',
  'tls_min_dh_prime_bits',
  'tls_crl_file',
  'tls_host_override',
]);

export function migrateMsmtp(file: string, text: string): string {
  const out = new Out();
  const defaults = new Map<string, string>();
  const accounts: MsmtpAccount[] = [];
  let cur: Map<string, string> = defaults;
  let defaultAccount: string | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (l === '' || l.startsWith('#')) continue;
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    const key = m[1]!.toLowerCase();
    const val = msmtpValue(m[2] ?? '');
    if (key === 'defaults') {
      cur = defaults;
      continue;
    }
    if (key === 'account') {
      const am = /^(\S+)\s*(?::\s*(.*))?$/.exec(val);
      const name = am?.[1] ?? 'account';
      const parents = (am?.[2] ?? '')
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      if (name === 'default' && parents.length === 1 && accounts.some((a) => a.name === parents[0])) {
        defaultAccount = parents[0];
        cur = new Map();
        continue;
      }
      const set = new Map(defaults);
      for (const p of parents) for (const [k, v] of accounts.find((a) => a.name === p)?.set ?? []) set.set(k, v);
      accounts.push({ name, line: i + 1, set });
      cur = set;
      continue;
    }
    cur.set(key, val);
  }
  if (accounts.length === 0) {
    out.note(`${file}: no "account" found; nothing to translate`);
    return out.render(file);
  }
  const names = new Map<string, string>();
  for (const a of accounts) {
    let n = relayName(a.name);
    while ([...names.values()].includes(n)) n += '-2';
    names.set(a.name, n);
  }
  for (const a of accounts) {
    const s = a.set;
    const n = names.get(a.name)!;
    const host = s.get('host');
    const lines: string[] = [`# from msmtp account "${a.name}" (${file}:${a.line})`, `[relay.${n}]`];
    if (!host) {
      out.note(`account "${a.name}" has no host; it is left out`);
      continue;
    }
    const tlsOn = (s.get('tls') ?? 'off') === 'on';
    const starttls = (s.get('tls_starttls') ?? 'on') !== 'off';
    const port = s.get('port') ? Number(s.get('port')) : undefined;
    let tls: 'starttls' | 'implicit' | 'none' = !tlsOn ? 'none' : starttls ? 'starttls' : 'implicit';
    const auth = (s.get('auth') ?? 'off').toLowerCase();
    let user = s.get('user');
    if (tls === 'none' && (auth !== 'off' || user)) {
      out.note(
        `account "${a.name}": msmtp had "tls off" with authentication; Outbox never sends a password without TLS, so this relay uses STARTTLS (smtp+starttls://). Check that the server offers it.`,
      );
      tls = 'starttls';
    }
    if (auth === 'off') user = undefined;
    lines.push(`url = ${q(urlFor(tls, host, port, user))}`);
    const oauthMech = { xoauth2: 'XOAUTH2', oauthbearer: 'OAUTHBEARER' }[auth];
    let oauthTable: string[] = [];
    if (oauthMech) {
      if (!user) out.note(`account "${a.name}": ${oauthMech} needs the account in the URL; add it (smtp+starttls://me%40example.com@${host})`);
      const o = msmtpOAuth(a.name, n, oauthMech, host, s.get('passwordeval'), out);
      lines.push(...o.keys);
      oauthTable = o.table;
      if (s.has('password')) out.note(`account "${a.name}": the static token in "password" was not copied (it expires within hours)`);
    } else if (user) {
      if (s.has('passwordeval')) lines.push(`password_command = ${q(s.get('passwordeval')!)}`);
      else if (s.has('password')) {
        lines.push(`password_file = ${q(`/etc/outbox/${n}.password`)}   # create it: the password from ${file}, mode 0600`);
        out.note(`account "${a.name}": the password was not copied; put it in /etc/outbox/${n}.password (chmod 600)`);
      } else {
        lines.push(`password_file = ${q(`/etc/outbox/${n}.password`)}   # create it (mode 0600): msmtp read this password from a keyring or ~/.netrc`);
        out.note(`account "${a.name}": no password in the file (keyring / .netrc); set password_file or password_command`);
      }
    }
    const mech = { plain: 'PLAIN', login: 'LOGIN', 'cram-md5': 'CRAM-MD5' }[auth];
    if (mech) lines.push(`auth = ${q(mech)}`);
    else if (auth !== 'on' && auth !== 'off' && !oauthMech)
      out.note(`account "${a.name}": auth method "${auth}" is not supported (PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER are)`);
    const trust = s.get('tls_trust_file');
    if (trust && trust !== 'system') lines.push(`ca_file = ${q(trust)}`);
    const fp = s.get('tls_fingerprint');
    if (fp) {
      if (/^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/.test(fp)) {
        lines.push(`fingerprint = ${q(fp)}`);
        if (!trust || trust === 'system') out.note(`account "${a.name}": ${PIN_IS_NOT_TRUST}`);
      } else out.note(`account "${a.name}": tls_fingerprint is not SHA-256 (Outbox pins SHA-256 only); left out`);
    }
    if (s.get('tls_cert_file')) lines.push(`client_cert = ${q(s.get('tls_cert_file')!)}`);
    if (s.get('tls_key_file')) lines.push(`client_key = ${q(s.get('tls_key_file')!)}`);
    if (s.get('tls_certcheck') === 'off') out.note(`account "${a.name}": tls_certcheck off is not supported: ${NO_UNVERIFIED_TLS}`);
    if (s.get('domain')) lines.push(`ehlo_name = ${q(s.get('domain')!)}`);
    if (s.get('timeout') && s.get('timeout') !== 'off') lines.push(`command_timeout = ${q(`${s.get('timeout')}s`)}`);
    if (s.get('set_from_header') === 'on' && s.get('from')) lines.push(`force_sender = ${q(s.get('from')!)}`);
    for (const k of s.keys()) {
      if (MSMTP_IGNORED.has(k)) out.note(`account "${a.name}": "${k}" has no Outbox equivalent; ignored`);
    }
    if (s.get('aliases')) out.top.push(`aliases = ${q(s.get('aliases')!)}   # from msmtp "aliases" (same file format)`);
    if (s.get('maildomain') && !out.top.some((x) => x.startsWith('domain'))) out.top.push(`domain = ${q(s.get('maildomain')!)}`);
    out.relays.push(...lines, ...oauthTable, '');
    const from = s.get('from');
    if (from && accounts.length > 1 && !/[%*]/.test(from)) {
      out.routes.push(`# msmtp chose account "${a.name}" for mail from ${from}`, '[[route]]', `sender = ${q(from)}`, `relay = ${q(n)}`, '');
    } else if (from && /[%*]/.test(from)) {
      out.note(`account "${a.name}": from "${from}" uses msmtp substitutions; write a [[route]] with sender = "@domain" by hand`);
    }
  }
  out.top = [...new Set(out.top)];
  if (defaultAccount) out.top.push(`default_relay = ${q(names.get(defaultAccount)!)}`);
  return out.render(file);
}

// ---------------------------------------------------------------- dma

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

// ---------------------------------------------------------------- nullmailer

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

export function migrate(input: MigrateInput): string {
  switch (input.format) {
    case 'msmtp':
      return migrateMsmtp(input.file, input.text);
    case 'dma':
      return migrateDma(input.file, input.text, input.authText);
    case 'nullmailer':
      return migrateNullmailer(input.file, input.text, {
        ...(input.defaultdomain ? { defaultdomain: input.defaultdomain } : {}),
        ...(input.me ? { me: input.me } : {}),
      });
  }
}
