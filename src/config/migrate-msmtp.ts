/**
 * config/migrate-msmtp.ts — an msmtp configuration (~/.msmtprc or /etc/msmtprc) as outbox.conf.
 * Each `account` becomes a [relay.NAME]; an account's `from` becomes a sender route (msmtp picks
 * the account by envelope sender); `account default : NAME` becomes default_relay. An OAuth
 * account (`auth xoauth2|oauthbearer`) whose `passwordeval` runs a known token helper (msmtpOAuth
 * below) on a host whose provider is known becomes an [relay.NAME.oauth] table; otherwise its
 * passwordeval is kept as oauth_token_command. A NOTE either way. Pure; see config/migrate.ts.
 */
import { NO_UNVERIFIED_TLS, Out, PIN_IS_NOT_TRUST, q, relayName, urlFor } from './migrate-out.js';

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
