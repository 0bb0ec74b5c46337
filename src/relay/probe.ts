/**
 * relay/probe.ts — `outbox check`'s look at one relay, step by step, sending no mail: its ports
 * (relay/ports.ts), its secret, its TLS settings, then the SMTP session opened through
 * relay/connect.ts exactly as delivery opens it (same TLS options, timeouts, EHLO name and
 * login), read back as findings: greeting, EHLO, STARTTLS, the certificate (relay/probe-cert.ts),
 * the extensions, AUTH. AUTH is only tried on a connection whose certificate delivery accepts:
 * a password is never sent to a server we could not authenticate.
 * Never throws: every problem is a finding (commands/check.ts prints them and the verdict).
 */
import type * as tls from 'node:tls';
import type { RelaySettings } from '../config/types.js';
import { resolveSecret, type SecretReader } from '../config/credentials.js';
import { resolveOauthToken, tokenState } from '../config/oauth.js';
import { checkRelayUrl, type ParsedRelayUrl } from './url.js';
import { describeEndpoint, parseRelayUrl } from './relay.js';
import { relayPins, relaySecureContext, relayTimeouts } from './tls.js';
import { tlsFailureText } from './tls-errors.js';
import { usesOauth, type PreparedRelay } from './prepare.js';
import { openConnection, type Connection } from './connect.js';
import { mechanismName } from './auth.js';
import type { SmtpError } from './errors.js';
import { certFindings, type Finding } from './probe-cert.js';
import { portFinding, probePort } from './ports.js';

/** The SMTP dialogue of one relay takes at most this many --timeout steps. */
const MAX_STEPS = 8;
/** Ports other than the relay's own are only probed for the report: this long each. */
const OTHER_PORT_MS = 10_000;
const WANTED = ['SIZE', 'PIPELINING', '8BITMIME', 'SMTPUTF8', 'DSN'];

type Timeouts = { connectMs: number; greetingMs: number; commandMs: number };

export interface ProbeOptions {
  configFile: string | null;
  /** --timeout: every step bounded by this instead of the relay's own timeouts (relay/tls.ts). */
  stepMs?: number;
  ports: number[];
  env: NodeJS.ProcessEnv;
  now?: number;
  ehloName: string;
  /** Judge password files as the delivering user (credentials.ts secretReader). */
  as?: SecretReader;
}

/** "3 s", or "500 ms" below a second. */
const within = (ms: number): string => (ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`);

function parseEhlo(reply: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of reply.split(/\r?\n/).slice(1)) {
    const [k, ...v] = l.slice(4).trim().split(/\s+/);
    if (k) m.set(k.toUpperCase(), v.join(' '));
  }
  return m;
}

const lines = (reply: string): string => reply.split(/\r?\n/).join(' / ');

function extensionFinding(ext: Map<string, string>): Finding {
  const have = WANTED.filter((k) => ext.has(k)).map((k) => (k === 'SIZE' && ext.get(k) ? `SIZE ${ext.get(k)}` : k));
  const missing = WANTED.filter((k) => !ext.has(k));
  return { level: 'info', text: `extensions: ${have.join(', ') || 'none'}${missing.length ? ` (not offered: ${missing.join(', ')})` : ''}` };
}

/** The mechanism delivery would use, if the relay offers it (else null). */
function pickMechanism(relay: PreparedRelay, offered: string[]): string | null {
  const wanted = usesOauth(relay.settings) ? mechanismName(relay, undefined) : relay.settings.authMechanism;
  if (wanted) return offered.includes(wanted) ? wanted : null;
  for (const m of ['PLAIN', 'LOGIN']) if (offered.includes(m)) return m;
  return null;
}

/** Probe one relay; never throws (everything becomes a finding). */
export async function probe(relay: RelaySettings, opts: ProbeOptions): Promise<{ header: string; findings: Finding[] }> {
  const findings: Finding[] = [];
  const u = checkRelayUrl(relay.url);
  if ('error' in u) return { header: `relay ${relay.name}: ${relay.url}`, findings: [{ level: 'config', text: `bad URL: ${u.error}` }] };
  const endpoint = parseRelayUrl(relay.url);
  const header = `relay ${relay.name}: ${u.scheme}://${describeEndpoint(endpoint)}${u.user ? ` as ${u.user}` : ''}`;
  // The relay's own timeouts, as delivery waits (unless --timeout says otherwise).
  const t = opts.stepMs ? { connectMs: opts.stepMs, greetingMs: opts.stepMs, commandMs: opts.stepMs } : relayTimeouts(relay);
  const ports = [...new Set([...opts.ports, u.port])];
  const results = await Promise.all(ports.map((p) => probePort(u.host, p, p === u.port ? t.connectMs : (opts.stepMs ?? OTHER_PORT_MS))));
  ports.forEach((p, i) => findings.push(portFinding(p, results[i]!, u.port)));
  if (results[ports.indexOf(u.port)]!.state !== 'open') return { header, findings };
  let secret: string | undefined;
  let secretProblem = false;
  if (u.user) {
    try {
      if (relay.oauth) {
        const st = tokenState(relay);
        findings.push({ level: st.ok ? 'ok' : 'config', text: `OAuth tokens: ${st.text}` });
      }
      const ctx = { configFile: opts.configFile, env: opts.env, ...(opts.as ? { as: opts.as } : {}) };
      secret = usesOauth(relay) ? await resolveOauthToken(relay, ctx) : await resolveSecret(relay, ctx);
    } catch (e) {
      findings.push({ level: (e as { code?: string }).code === 'ETOKENTEMP' ? 'fail' : 'config', text: (e as Error).message });
      secretProblem = true;
    }
  }
  let secureContext: tls.SecureContext | undefined;
  if (u.tls !== 'none') {
    try {
      secureContext = relaySecureContext(relay);
    } catch (e) {
      findings.push({ level: 'config', text: (e as Error).message });
      return { header, findings };
    }
  }
  // Delivery's prepared relay (relay/prepare.ts), with the secret read above as the delivering user.
  const prepared: PreparedRelay = {
    settings: relay,
    endpoint,
    ...(secret !== undefined && !usesOauth(relay) ? { password: secret } : {}),
    ...(secureContext ? { secureContext } : {}),
    ...(usesOauth(relay) ? { oauthToken: async () => secret ?? '' } : {}),
    pins: relayPins(relay),
    label: describeEndpoint(endpoint),
  };
  let c: Connection | undefined;
  // Every step is bounded by its timeout; the whole session by MAX_STEPS commands, whatever happens.
  let cap: NodeJS.Timeout | undefined;
  const capMs = t.connectMs + t.greetingMs + t.commandMs * MAX_STEPS;
  try {
    await Promise.race([
      session(prepared, u, { ...opts, ...t }, findings, secret, secretProblem, (x) => (c = x)),
      new Promise<never>((_, reject) => {
        cap = setTimeout(() => reject(new Error(`the SMTP dialogue did not finish within ${within(capMs)}`)), capMs);
      }),
    ]);
  } catch (e) {
    findings.push({ level: 'fail', text: (e as Error).message });
  } finally {
    clearTimeout(cap);
    try {
      (c as Connection | undefined)?.conn.close();
    } catch {
      // already closed
    }
  }
  return { header, findings };
}

/**
 * What went wrong, from nodemailer's error and the step the dialogue had reached (`what`: the
 * reply it waited for). Timeouts are said with the limit that applied.
 */
function failureText(err: (SmtpError & { timeoutType?: string }) | null, what: string, u: ParsedRelayUrl, t: Timeouts, inTls: boolean): string {
  if (!err) return `the connection was closed while waiting for the ${what}`;
  const timeout = (err as { timeoutType?: string }).timeoutType;
  if (timeout === 'CONNECT_TIMEOUT')
    return u.tls === 'implicit'
      ? `TLS handshake: no answer within ${within(t.connectMs)}`
      : `cannot connect to ${u.host}:${u.port}: no answer within ${within(t.connectMs)}`;
  if (timeout === 'UPGRADE_TIMEOUT') return `TLS handshake: no answer within ${within(t.greetingMs)}`;
  if (timeout === 'GREETING_TIMEOUT') return `no greeting within ${within(t.greetingMs)}`;
  if (err.code === 'ETIMEDOUT') return `no ${what} within ${within(what === 'greeting' ? Math.min(t.greetingMs, t.commandMs) : t.commandMs)}`;
  if (inTls) return tlsFailureText(Object.assign(new Error(err.message.replace(/^Error initiating TLS - /, '')), {}));
  const sys = err.originalCode ?? '';
  if (sys === 'ECONNREFUSED') return `cannot connect to ${u.host}:${u.port}: connection refused`;
  if (err.code === 'ECONNECTION' || err.code === 'ESOCKET') return `the connection was closed while waiting for the ${what}`;
  return err.message;
}

/** The SMTP dialogue, through delivery's connection opener; findings are pushed as the steps are read back. */
async function session(
  relay: PreparedRelay,
  u: ParsedRelayUrl,
  opts: ProbeOptions & Timeouts,
  findings: Finding[],
  secret: string | undefined,
  secretProblem: boolean,
  track: (c: Connection) => void,
): Promise<void> {
  // Each command's verb with the reply it got (the greeting first); the TLS session as it came up.
  const steps: { verb: string; reply?: string }[] = [{ verb: 'greeting' }];
  let tlsUp: { protocol: string; cipher: string; sock: Parameters<typeof certFindings>[0] } | undefined;
  const c: Connection = openConnection(relay, {
    ehloName: opts.ehloName,
    timeouts: { connectMs: opts.connectMs, greetingMs: opts.greetingMs, commandMs: opts.commandMs },
    examine: true,
    dialogue: (dir, text) => {
      if (dir === 'tls') {
        const s = c.conn._socket as tls.TLSSocket;
        const cert = s.getPeerCertificate();
        const protocol = s.getProtocol() ?? '?';
        const cipher = s.getCipher()?.name ?? '?';
        tlsUp = { protocol, cipher, sock: { authorized: s.authorized, authorizationError: s.authorizationError, getPeerCertificate: () => cert } as never };
      } else if (dir === '>>>') steps.push({ verb: text });
      else if (steps.at(-1)!.reply === undefined) steps.at(-1)!.reply = text;
    },
  });
  track(c);
  c.conn.on('error', () => {}); // every error is read below; a late one must not crash the check
  const err = await new Promise<SmtpError | null>((resolve) => {
    c.conn.once('error', (e) => resolve(e as SmtpError));
    c.conn.once('end', () => resolve(null));
    try {
      c.conn.connect((e) => resolve((e as SmtpError | undefined) ?? null));
    } catch (e) {
      resolve(e as SmtpError);
    }
  });
  const fail = (text: string) => void findings.push({ level: 'fail', text });
  const stop = (what: string, inTls = false) => fail(failureText(err, what, u, opts, inTls));
  let trusted = false;
  const examine = (label: string) => {
    findings.push({ level: 'ok', text: `${label}${tlsUp!.protocol} ${tlsUp!.cipher}` });
    const cf = certFindings(tlsUp!.sock, u.host, relay.settings, opts.now ?? Date.now());
    findings.push(...cf.findings);
    trusted = cf.trusted;
  };
  if (u.tls === 'implicit') {
    if (!tlsUp) return stop('greeting', true);
    examine('TLS (implicit): ');
  }
  const [greeting, ehlo, starttls, ehlo2] = steps;
  if (greeting!.reply === undefined) return stop('greeting');
  if (!greeting!.reply.startsWith('220')) return fail(`greeting refused: ${lines(greeting!.reply)}`);
  findings.push({ level: 'ok', text: `greeting: ${greeting!.reply.split(/\r?\n/)[0]}` });
  if (ehlo?.reply === undefined) return stop('EHLO reply');
  if (!ehlo.reply.startsWith('250')) return fail(`EHLO refused: ${lines(ehlo.reply)}`);
  let ext = parseEhlo(ehlo.reply);
  if (u.tls === 'starttls') {
    if (!ext.has('STARTTLS')) {
      return fail('STARTTLS NOT offered: the relay would only talk in plaintext (Outbox never sends mail or a password without TLS on smtp+starttls://)');
    }
    if (starttls?.reply === undefined) return stop('STARTTLS reply');
    if (!starttls.reply.startsWith('220')) return fail(`STARTTLS offered but refused: ${lines(starttls.reply)}`);
    if (!tlsUp) return stop('STARTTLS reply', true);
    examine('STARTTLS: offered, ');
    if (ehlo2?.reply === undefined) return stop('EHLO reply after STARTTLS');
    if (!ehlo2.reply.startsWith('250')) return fail(`EHLO after STARTTLS refused: ${lines(ehlo2.reply)}`);
    ext = parseEhlo(ehlo2.reply);
  } else if (u.tls === 'none') {
    findings.push({ level: 'warn', text: 'plaintext SMTP (smtp://): no TLS, no AUTH; only for a trusted local network' });
  }
  if (err) return stop('next reply');
  findings.push(extensionFinding(ext));
  const user = relay.endpoint.user;
  const offered = (ext.get('AUTH') ?? '').toUpperCase().split(/\s+/).filter(Boolean);
  const mech = pickMechanism(relay, offered);
  if (user === undefined) {
    const text =
      offered.length > 0
        ? `AUTH: offered (${offered.join(' ')}) but no user is configured; the relay must accept mail from this host without it`
        : 'AUTH: not configured';
    findings.push({ level: 'info', text });
  } else if (secretProblem) findings.push({ level: 'info', text: 'AUTH: not tried (the password could not be read)' });
  else if (!trusted) fail('AUTH: not tried: the password is never sent to a server whose certificate is not valid');
  else if (offered.length === 0) fail('AUTH: the relay does not offer AUTH, but a user is configured');
  else if (!mech) {
    const wanted = usesOauth(relay.settings) ? mechanismName(relay, undefined) : relay.settings.authMechanism;
    fail(`AUTH: ${wanted ? `${wanted} is not offered` : 'neither PLAIN nor LOGIN is offered'} (offered: ${offered.join(' ')})`);
  } else if (secret === undefined) fail('AUTH: a user is configured but no password (password_file, password_command, password_env or password)');
  else {
    // Delivery's login (relay/auth.ts), on this connection.
    const lerr = await new Promise<SmtpError | null>((resolve) => {
      c.conn.once('error', (e) => resolve(e as SmtpError));
      c.login(resolve);
    });
    const used = mechanismName(relay, (c.conn as unknown as { _authMethod?: string })._authMethod);
    const rc = lerr?.responseCode;
    const first = (lerr?.response ?? '').split(/\r?\n/)[0]!;
    if (!lerr) findings.push({ level: 'ok', text: `AUTH ${used}: accepted for ${user}` });
    else if (rc === 535 || rc === 534 || rc === 530)
      fail(`AUTH ${used}: REJECTED for ${user}: wrong user name or password (${rc}${first.length > 4 ? ' ' + first.slice(4) : ''})`);
    else if (rc) fail(`AUTH ${used}: failed: ${lines(lerr.response ?? String(rc))}`);
    else fail(failureText(lerr, 'AUTH reply', u, opts, false));
  }
  try {
    c.conn.quit();
  } catch {
    /* closing anyway */
  }
}
