/**
 * commands/check.ts — `outbox check [-C FILE] [--timeout SECONDS] [--ports LIST] [RELAY...]`
 * (`outbox check --queue ...` is the queue's monitoring check: commands/check-queue.ts):
 * why is mail not going out? For each configured relay (or the ones named), within bounded time:
 *   - TCP reachability of ports 587, 465 and 25 (and the relay's own port), in parallel; a port
 *     that does not answer is reported plainly as blocked ("port 25 blocked" is the everyday case);
 *   - the SMTP greeting and EHLO on the relay's URL; STARTTLS offered (smtp+starttls://);
 *   - the certificate: chain valid (system CAs + ca_file), host name, fingerprint pin, days
 *     until expiry, judged with delivery's own TLS options (relay/tls.ts): what delivery
 *     refuses is a FAIL here, a pin never excusing an unverified chain;
 *   - AUTH with the configured credentials (only over a verified TLS connection: a password is
 *     never sent to a server we could not authenticate);
 *   - what the relay offers: SIZE, PIPELINING, 8BITMIME, SMTPUTF8, DSN, AUTH mechanisms.
 * Each step waits as long as delivery would (the relay's connect/greeting/command timeouts),
 * unless --timeout bounds every step. The relays are those delivery uses (relay/env.ts
 * relaysFor: the file's, and OUTBOX_RELAY* as relay "env").
 * Then a verdict per relay: OK, WARN (usable, look at the warning) or FAIL (mail will not go out).
 * Before the relays: the domain senders get and where it came from, with a WARN line and the fix
 * for a name that cannot work (config/domain.ts domainReport). Secrets are judged as the user
 * that delivers mail (config/credentials.ts secretReader).
 * Nothing is ever sent (no MAIL FROM), and no secret is ever printed.
 *
 * Exit status: 0 every relay OK or WARN; 69 (EX_UNAVAILABLE) at least one relay FAIL; 78
 * (EX_CONFIG) the configuration is invalid or a relay's secret cannot be read; 64 bad usage.
 * Pure helpers (portFinding, verdictOf) are unit-tested; probe() does the network I/O.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { EX_CONFIG, EX_OK, EX_UNAVAILABLE, EX_USAGE, OutboxError } from '../sysexits.js';
import type { Io } from '../io.js';
import { loadConfig, type Config } from '../config/config.js';
import { parseForm, usageError, value } from './args.js';
import { checkRelayUrl, normalizeFingerprint, type ParsedRelayUrl } from '../relay/url.js';
import { certNames, relayPins, relaySecureContext, relayTimeouts, relayTlsOptions } from '../relay/tls.js';
import { tlsFailureText } from '../relay/tls-errors.js';
import { relaysFor } from '../relay/env.js';
import { resolveOauthToken, resolveSecret, secretReader, type SecretReader } from '../config/credentials.js';
import type { RelaySettings } from '../config/types.js';
import { domainReport, loginAddress } from '../config/domain.js';
import { relayLimits } from '../config/limits.js';
import { spoolPaths } from '../spool/spool.js';

export const STANDARD_PORTS = [587, 465, 25];
/** The SMTP dialogue of one relay takes at most this many --timeout steps. */
const MAX_STEPS = 8;
/** Ports other than the relay's own are only probed for the report: this long each. */
const OTHER_PORT_MS = 10_000;
const DAY = 86_400_000;
/** Warn when the certificate expires within this many days. */
export const EXPIRY_WARN_DAYS = 14;

export type Level = 'ok' | 'info' | 'warn' | 'fail' | 'config';

export interface Finding {
  level: Level;
  text: string;
}

export type PortResult = { state: 'open'; ms: number } | { state: 'refused' } | { state: 'timeout'; ms: number } | { state: 'error'; code: string };

/** How a port probe reads to a person (port 25 blocked is said plainly). */
export function portFinding(port: number, r: PortResult, relayPort: number): Finding {
  const mine = port === relayPort;
  const level = (bad: boolean): Level => (bad ? (mine ? 'fail' : 'info') : 'ok');
  switch (r.state) {
    case 'open':
      return { level: 'ok', text: `port ${port}: open (${r.ms} ms)` };
    case 'refused':
      return {
        level: level(true),
        text:
          port === 25
            ? `port 25 blocked or closed: connection refused${mine ? '' : ' (fine: this relay uses port ' + relayPort + ')'}`
            : `port ${port}: closed (connection refused)`,
      };
    case 'timeout':
      return {
        level: level(true),
        text:
          port === 25
            ? `port 25 blocked: no answer within ${Math.round(r.ms / 1000)} s (most ISPs and cloud providers block outgoing port 25; use a relay on 587 or 465)`
            : `port ${port} blocked: no answer within ${Math.round(r.ms / 1000)} s (a firewall drops it)`,
      };
    case 'error':
      return { level: level(true), text: `port ${port}: ${r.code === 'ENOTFOUND' || r.code === 'EAI_AGAIN' ? 'host name not found' : r.code}` };
  }
}

/** The verdict of a relay from its findings. */
export function verdictOf(findings: Finding[]): 'OK' | 'WARN' | 'FAIL' {
  if (findings.some((f) => f.level === 'fail' || f.level === 'config')) return 'FAIL';
  if (findings.some((f) => f.level === 'warn')) return 'WARN';
  return 'OK';
}

export function probePort(host: string, port: number, timeoutMs: number): Promise<PortResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ state: 'timeout', ms: timeoutMs });
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve({ state: 'open', ms: Date.now() - t0 });
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      s.destroy();
      resolve(e.code === 'ECONNREFUSED' ? { state: 'refused' } : { state: 'error', code: e.code ?? e.message });
    });
  });
}

interface Reply {
  code: number;
  lines: string[];
}

/** A minimal line-oriented SMTP client for probing (no MAIL, no DATA). */
class Probe {
  private buf = '';
  private waiting: (() => void) | null = null;
  private closed = false;
  sock: net.Socket | tls.TLSSocket;
  constructor(
    sock: net.Socket | tls.TLSSocket,
    private readonly stepMs: number,
  ) {
    this.sock = sock;
    this.attach(sock);
  }
  attach(sock: net.Socket | tls.TLSSocket): void {
    this.sock = sock;
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      this.waiting?.();
    });
    sock.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
    sock.on('error', () => {
      this.closed = true;
      this.waiting?.();
    });
  }
  detach(): void {
    this.sock.removeAllListeners('data');
    this.sock.removeAllListeners('close');
    this.sock.removeAllListeners('error');
    this.sock.on('error', () => {});
  }
  async reply(what: string, ms = this.stepMs): Promise<Reply> {
    const deadline = Date.now() + ms;
    const lines: string[] = [];
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl >= 0) {
        const line = this.buf.slice(0, nl).replace(/\r$/, '');
        this.buf = this.buf.slice(nl + 1);
        lines.push(line);
        if (!/^\d{3}-/.test(line)) return { code: Number(line.slice(0, 3)) || 0, lines };
        continue;
      }
      if (this.closed) throw new Error(`the connection was closed while waiting for the ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${Math.round(ms / 1000)} s`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiting = () => {
          clearTimeout(t);
          r();
        };
      });
      this.waiting = null;
    }
  }
  send(line: string): void {
    this.sock.write(line + '\r\n');
  }
  async cmd(line: string, what: string): Promise<Reply> {
    this.send(line);
    return this.reply(what);
  }
  close(): void {
    this.sock.destroy();
  }
}

function parseEhlo(r: Reply): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of r.lines.slice(1)) {
    const t = l.slice(4).trim();
    const [k, ...v] = t.split(/\s+/);
    if (k) m.set(k.toUpperCase(), v.join(' '));
  }
  return m;
}

function connectPlain(host: string, port: number, ms: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`cannot connect to ${host}:${port}: no answer within ${Math.round(ms / 1000)} s`));
    }, ms);
    s.once('connect', () => {
      clearTimeout(t);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      reject(new Error(`cannot connect to ${host}:${port}: ${e.code === 'ECONNREFUSED' ? 'connection refused' : (e.code ?? e.message)}`));
    });
  });
}

/**
 * TLS with the options delivery uses (relay/tls.ts relayTlsOptions: same CAs, same host name
 * and pin check), except that a certificate delivery would refuse is kept for examination:
 * sock.authorized is then exactly delivery's judgement.
 */
function startTls(opts: { socket?: net.Socket; host: string; port: number; tls: tls.ConnectionOptions; ms: number }): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const isIp = net.isIP(opts.host) !== 0;
    const s = tls.connect({
      ...(opts.socket ? { socket: opts.socket } : { host: opts.host, port: opts.port }),
      ...(isIp ? {} : { servername: opts.host }),
      ...opts.tls,
      rejectUnauthorized: false,
    });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`TLS handshake: no answer within ${Math.round(opts.ms / 1000)} s`));
    }, opts.ms);
    s.once('secureConnect', () => {
      clearTimeout(t);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(t);
      reject(new Error(tlsFailureText(e)));
    });
  });
}

/** "expired 25 hours ago" / "expired 3 days ago": rounded down, never towards a later expiry. */
export function expiredAgo(expires: number, now: number): string {
  const hours = Math.floor((now - expires) / 3_600_000);
  if (hours < 1) return 'expired less than an hour ago';
  if (hours < 48) return `expired ${hours} hour${hours === 1 ? '' : 's'} ago`;
  const days = Math.floor((now - expires) / DAY);
  return `expired ${days} days ago`;
}

/**
 * Examine the server certificate: chain, host name, pin, expiry. `trusted` is delivery's verdict
 * (the socket was opened with delivery's options): a chain that does not verify fails even with
 * a matching pin, since a pin is checked in addition to verification, never instead.
 */
export function certFindings(
  sock: Pick<tls.TLSSocket, 'authorized' | 'authorizationError' | 'getPeerCertificate'>,
  host: string,
  relay: RelaySettings,
  now: number,
): { findings: Finding[]; trusted: boolean } {
  const out: Finding[] = [];
  const cert = sock.getPeerCertificate();
  if (!cert || !cert.raw) return { findings: [{ level: 'fail', text: 'certificate: the server sent none' }], trusted: false };
  const subject = cert.subject?.CN ? `CN=${cert.subject.CN}` : '(no CN)';
  const issuer = cert.issuer?.CN ? `CN=${cert.issuer.CN}` : cert.issuer?.O ? `O=${cert.issuer.O}` : '?';
  const expires = Date.parse(cert.valid_to);
  const days = Math.floor((expires - now) / DAY);
  const pins = relayPins(relay);
  const pinned = pins.length > 0 && pins.includes(normalizeFingerprint(cert.fingerprint256) ?? '');
  const authErr = sock.authorized ? null : String(sock.authorizationError ?? 'not trusted');
  // The identity check (relay/tls.ts) runs after a valid chain: its errors are not chain errors.
  const chainErr = authErr === 'ERR_TLS_CERT_ALTNAME_INVALID' || authErr === 'ERR_OUTBOX_PIN_MISMATCH' ? null : authErr;
  // The setting's name where this relay is configured: the environment's relay has no ca_file.
  const caKey = relay.name === 'env' ? 'OUTBOX_RELAY_CA' : 'ca_file';
  const nameErr = tls.checkServerIdentity(host, cert);
  if (pins.length > 0 && !pinned)
    out.push({ level: 'fail', text: `certificate: fingerprint ${cert.fingerprint256} does not match the configured fingerprint pin` });
  else if (pinned) out.push({ level: 'ok', text: 'certificate: matches the configured fingerprint pin' });
  if (chainErr) {
    const why =
      chainErr === 'CERT_HAS_EXPIRED'
        ? `${expiredAgo(expires, now)} (${new Date(expires).toISOString().slice(0, 10)})`
        : chainErr === 'DEPTH_ZERO_SELF_SIGNED_CERT' || chainErr === 'SELF_SIGNED_CERT_IN_CHAIN'
          ? `self-signed: not issued by a trusted CA (trust its CA with ${caKey})`
          : chainErr === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || chainErr === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'
            ? `issued by a CA this system does not trust (set ${caKey})`
            : chainErr;
    out.push({
      level: 'fail',
      text: `certificate NOT valid: ${why}${pinned ? '; the pin does not replace verification: delivery refuses this certificate too' : ''}`,
    });
  } else out.push({ level: 'ok', text: `certificate chain: valid (${subject}, issued by ${issuer})` });
  if (nameErr) out.push({ level: 'fail', text: `certificate is for another host: it names ${certNames(cert)}, the URL says ${host}` });
  else out.push({ level: 'ok', text: `certificate name: matches ${host}` });
  if (days >= 0) {
    out.push({
      level: days < EXPIRY_WARN_DAYS ? 'warn' : 'ok',
      text: `certificate expires ${new Date(expires).toISOString().slice(0, 10)}: in ${days} day${days === 1 ? '' : 's'}`,
    });
  }
  // Delivery's own verdict (the same options, relay/tls.ts) has the last word.
  if (!sock.authorized && !out.some((f) => f.level === 'fail')) out.push({ level: 'fail', text: `certificate NOT accepted: ${authErr}` });
  return { findings: out, trusted: sock.authorized && !out.some((f) => f.level === 'fail') };
}

const WANTED = ['SIZE', 'PIPELINING', '8BITMIME', 'SMTPUTF8', 'DSN'];

function extensionFinding(ext: Map<string, string>): Finding {
  const have = WANTED.filter((k) => ext.has(k)).map((k) => (k === 'SIZE' && ext.get(k) ? `SIZE ${ext.get(k)}` : k));
  const missing = WANTED.filter((k) => !ext.has(k));
  return { level: 'info', text: `extensions: ${have.join(', ') || 'none'}${missing.length ? ` (not offered: ${missing.join(', ')})` : ''}` };
}

function pickMechanism(relay: RelaySettings, offered: string[]): string | null {
  if (relay.authMechanism) return offered.includes(relay.authMechanism) ? relay.authMechanism : null;
  for (const m of ['PLAIN', 'LOGIN']) if (offered.includes(m)) return m;
  return null;
}

async function tryAuth(p: Probe, relay: RelaySettings, user: string, secret: string, mech: string): Promise<Reply> {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  if (mech === 'PLAIN') return p.cmd(`AUTH PLAIN ${b64(`\0${user}\0${secret}`)}`, 'AUTH reply');
  if (mech === 'LOGIN') {
    let r = await p.cmd('AUTH LOGIN', 'AUTH reply');
    if (r.code !== 334) return r;
    r = await p.cmd(b64(user), 'AUTH reply');
    if (r.code !== 334) return r;
    return p.cmd(b64(secret), 'AUTH reply');
  }
  if (mech === 'CRAM-MD5') {
    const r = await p.cmd('AUTH CRAM-MD5', 'AUTH reply');
    if (r.code !== 334) return r;
    const { createHmac } = await import('node:crypto');
    const challenge = Buffer.from(r.lines[0]!.slice(4).trim(), 'base64').toString('latin1');
    return p.cmd(b64(`${user} ${createHmac('md5', secret).update(challenge).digest('hex')}`), 'AUTH reply');
  }
  if (mech === 'OAUTHBEARER') {
    const u = checkRelayUrl(relay.url);
    const host = 'error' in u ? '' : u.host;
    const port = 'error' in u ? 0 : u.port;
    const gs2 = `n,a=${user.replace(/=/g, '=3D').replace(/,/g, '=2C')},`;
    const r = await p.cmd(`AUTH OAUTHBEARER ${b64(`${gs2}\x01host=${host}\x01port=${port}\x01auth=Bearer ${secret}\x01\x01`)}`, 'AUTH reply');
    if (r.code === 334) return p.cmd('AQ==', 'AUTH reply');
    return r;
  }
  // XOAUTH2
  const r = await p.cmd(`AUTH XOAUTH2 ${b64(`user=${user}\x01auth=Bearer ${secret}\x01\x01`)}`, 'AUTH reply');
  if (r.code === 334) return p.cmd('', 'AUTH reply');
  return r;
}

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

/** Probe one relay; never throws (everything becomes a finding). */
export async function probe(relay: RelaySettings, opts: ProbeOptions): Promise<{ header: string; findings: Finding[] }> {
  const findings: Finding[] = [];
  const u = checkRelayUrl(relay.url);
  if ('error' in u) return { header: `relay ${relay.name}: ${relay.url}`, findings: [{ level: 'config', text: `bad URL: ${u.error}` }] };
  const header = `relay ${relay.name}: ${u.scheme}://${u.host.includes(':') ? `[${u.host}]` : u.host}:${u.port}${u.user ? ` as ${u.user}` : ''}`;
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
        const st = (await import('../config/oauth.js')).tokenState(relay);
        findings.push({ level: st.ok ? 'ok' : 'config', text: `OAuth tokens: ${st.text}` });
      }
      const ctx = { configFile: opts.configFile, env: opts.env, ...(opts.as ? { as: opts.as } : {}) };
      secret =
        relay.authMechanism === 'XOAUTH2' || relay.authMechanism === 'OAUTHBEARER' ? await resolveOauthToken(relay, ctx) : await resolveSecret(relay, ctx);
    } catch (e) {
      findings.push({ level: (e as { code?: string }).code === 'ETOKENTEMP' ? 'fail' : 'config', text: (e as Error).message });
      secretProblem = true;
    }
  }
  let tlsOptions: tls.ConnectionOptions | undefined;
  if (u.tls !== 'none') {
    try {
      tlsOptions = relayTlsOptions(relaySecureContext(relay), relayPins(relay));
    } catch (e) {
      findings.push({ level: 'config', text: (e as Error).message });
      return { header, findings };
    }
  }
  let p: Probe | null = null;
  // Every step is bounded by its timeout; the whole session by MAX_STEPS commands, whatever happens.
  let cap: NodeJS.Timeout | undefined;
  const capMs = t.connectMs + t.greetingMs + t.commandMs * MAX_STEPS;
  try {
    await Promise.race([
      session(relay, u, { ...opts, ...t, tls: tlsOptions ?? {} }, findings, secret, secretProblem, (x) => (p = x)),
      new Promise<never>((_, reject) => {
        cap = setTimeout(() => reject(new Error(`the SMTP dialogue did not finish within ${Math.round(capMs / 1000)} s`)), capMs);
      }),
    ]);
  } catch (e) {
    findings.push({ level: 'fail', text: (e as Error).message });
  } finally {
    clearTimeout(cap);
    (p as Probe | null)?.close();
  }
  return { header, findings };
}

async function session(
  relay: RelaySettings,
  u: ParsedRelayUrl,
  opts: ProbeOptions & { connectMs: number; greetingMs: number; commandMs: number; tls: tls.ConnectionOptions },
  findings: Finding[],
  secret: string | undefined,
  secretProblem: boolean,
  setProbe: (p: Probe) => void,
): Promise<void> {
  const ehlo = relay.ehloName ?? opts.ehloName;
  let trusted = false;
  let p: Probe;
  if (u.tls === 'implicit') {
    const s = await startTls({ host: u.host, port: u.port, tls: opts.tls, ms: opts.connectMs });
    p = new Probe(s, opts.commandMs);
    setProbe(p);
    findings.push({ level: 'ok', text: `TLS (implicit): ${s.getProtocol()} ${s.getCipher().name}` });
    const c = certFindings(s, u.host, relay, opts.now ?? Date.now());
    findings.push(...c.findings);
    trusted = c.trusted;
  } else {
    p = new Probe(await connectPlain(u.host, u.port, opts.connectMs), opts.commandMs);
    setProbe(p);
  }
  const g = await p.reply('greeting', opts.greetingMs);
  if (g.code !== 220) {
    findings.push({ level: 'fail', text: `greeting refused: ${g.lines.join(' / ')}` });
    return;
  }
  findings.push({ level: 'ok', text: `greeting: ${g.lines[0]}` });
  let r = await p.cmd(`EHLO ${ehlo}`, 'EHLO reply');
  if (r.code !== 250) {
    findings.push({ level: 'fail', text: `EHLO refused: ${r.lines.join(' / ')}` });
    return;
  }
  let ext = parseEhlo(r);
  if (u.tls === 'starttls') {
    if (!ext.has('STARTTLS')) {
      findings.push({
        level: 'fail',
        text: 'STARTTLS NOT offered: the relay would only talk in plaintext (Outbox never sends mail or a password without TLS on smtp+starttls://)',
      });
      return;
    }
    r = await p.cmd('STARTTLS', 'STARTTLS reply');
    if (r.code !== 220) {
      findings.push({ level: 'fail', text: `STARTTLS offered but refused: ${r.lines.join(' / ')}` });
      return;
    }
    p.detach();
    const s = await startTls({ socket: p.sock as net.Socket, host: u.host, port: u.port, tls: opts.tls, ms: opts.commandMs });
    p.attach(s);
    findings.push({ level: 'ok', text: `STARTTLS: offered, ${s.getProtocol()} ${s.getCipher().name}` });
    const c = certFindings(s, u.host, relay, opts.now ?? Date.now());
    findings.push(...c.findings);
    trusted = c.trusted;
    r = await p.cmd(`EHLO ${ehlo}`, 'EHLO reply after STARTTLS');
    if (r.code !== 250) {
      findings.push({ level: 'fail', text: `EHLO after STARTTLS refused: ${r.lines.join(' / ')}` });
      return;
    }
    ext = parseEhlo(r);
  } else if (u.tls === 'none') {
    findings.push({ level: 'warn', text: 'plaintext SMTP (smtp://): no TLS, no AUTH; only for a trusted local network' });
  }
  findings.push(extensionFinding(ext));
  const offered = (ext.get('AUTH') ?? '').toUpperCase().split(/\s+/).filter(Boolean);
  if (!u.user) {
    if (offered.length > 0)
      findings.push({
        level: 'info',
        text: `AUTH: offered (${offered.join(' ')}) but no user is configured; the relay must accept mail from this host without it`,
      });
    else findings.push({ level: 'info', text: 'AUTH: not configured' });
  } else if (secretProblem) {
    findings.push({ level: 'info', text: 'AUTH: not tried (the password could not be read)' });
  } else if (!trusted) {
    findings.push({ level: 'fail', text: 'AUTH: not tried: the password is never sent to a server whose certificate is not valid' });
  } else if (offered.length === 0) {
    findings.push({ level: 'fail', text: 'AUTH: the relay does not offer AUTH, but a user is configured' });
  } else {
    const mech = pickMechanism(relay, offered);
    if (!mech) {
      findings.push({
        level: 'fail',
        text: `AUTH: ${relay.authMechanism ? `${relay.authMechanism} is not offered` : 'neither PLAIN nor LOGIN is offered'} (offered: ${offered.join(' ')})`,
      });
    } else if (secret === undefined) {
      findings.push({ level: 'fail', text: 'AUTH: a user is configured but no password (password_file, password_command, password_env or password)' });
    } else {
      r = await tryAuth(p, relay, u.user, secret, mech);
      if (r.code === 235) findings.push({ level: 'ok', text: `AUTH ${mech}: accepted for ${u.user}` });
      else if (r.code === 535 || r.code === 534 || r.code === 530)
        findings.push({
          level: 'fail',
          text: `AUTH ${mech}: REJECTED for ${u.user}: wrong user name or password (${r.code}${r.lines[0]!.length > 4 ? ' ' + r.lines[0]!.slice(4) : ''})`,
        });
      else findings.push({ level: 'fail', text: `AUTH ${mech}: failed: ${r.lines.join(' / ')}` });
    }
  }
  try {
    p.send('QUIT');
  } catch {
    /* closing anyway */
  }
}

const MARK: Record<Level, string> = { ok: 'ok  ', info: '    ', warn: 'WARN', fail: 'FAIL', config: 'FAIL' };

export async function command(args: string[], io: Io): Promise<number> {
  // The queue monitoring check (monitoring-plugins exit codes): commands/check-queue.ts.
  if (args.includes('--queue')) return (await import('./check-queue.js')).command(args, io);
  const p = parseForm('check', args);
  const configFile = p.configFile;
  let stepMs: number | undefined;
  let ports = STANDARD_PORTS;
  const names = p.operands;
  const timeout = value(p, 'timeout');
  if (timeout !== undefined) {
    const v = Number(timeout);
    if (!(v > 0 && v <= 300)) throw usageError('check', '--timeout: seconds per step, 1 to 300');
    stepMs = v * 1000;
  }
  const portList = value(p, 'ports');
  if (portList !== undefined) {
    const v = portList.split(',').map(Number);
    if (v.length === 0 || v.some((n) => !(Number.isInteger(n) && n > 0 && n < 65536))) throw usageError('check', '--ports: a list like 587,465,25');
    ports = v;
  }
  const config: Config = loadConfig(configFile !== undefined ? { file: configFile } : {});
  const env = process.env;
  // The relays delivery uses: the file's, with the environment's merged in (relay/env.ts).
  const merged = relaysFor(config, env).relays ?? {};
  const relays: RelaySettings[] = Object.values(merged).sort((a, b) => Number(b.name === 'env') - Number(a.name === 'env'));
  for (const n of names)
    if (!relays.some((r) => r.name === n))
      throw new OutboxError(EX_USAGE, `check: no relay named "${n}" (relays: ${relays.map((r) => r.name).join(', ') || 'none'})`);
  const chosen = names.length ? relays.filter((r) => names.includes(r.name)) : relays;
  if (chosen.length === 0) {
    throw new OutboxError(EX_CONFIG, `${config.file ?? 'no configuration file'}: no relay to check: add a [relay.NAME] table, or set OUTBOX_RELAY`);
  }
  let status = EX_OK;
  for (const line of domainReport(config, relays)) io.stdout.write(`${line}\n`);
  io.stdout.write('\n');
  const as = secretReader(config);
  // Relays are probed one after the other so that the report reads in order; each is bounded
  // by a few steps of --timeout seconds.
  for (const relay of chosen) {
    const { header, findings } = await probe(relay, {
      configFile: config.file,
      ...(stepMs ? { stepMs } : {}),
      ports,
      env,
      ehloName: config.hostname,
      ...(as ? { as } : {}),
    });
    const login = relay.forceSender ? undefined : loginAddress(relay);
    if (login)
      findings.push({
        level: 'info',
        text: `login-address rule: local senders go out as ${login}, the original kept in Reply-To: (login_sender = false / OUTBOX_RELAY_LOGIN_SENDER=no to turn it off)`,
      });
    // Sending limits and their use over the last 24 h, and a quota pause (runner/limits.ts).
    const lim = await import('../runner/limits.js');
    findings.push(...lim.limitReport(relayLimits(relay), lim.readLimitStateFor(spoolPaths(config.spool), relay.name), Date.now()));
    io.stdout.write(`${header}\n`);
    for (const f of findings) io.stdout.write(`  ${MARK[f.level]} ${f.text}\n`);
    const v = verdictOf(findings);
    const first = findings.find((f) => f.level === 'fail' || f.level === 'config') ?? findings.find((f) => f.level === 'warn');
    io.stdout.write(`verdict ${relay.name}: ${v}${first && v !== 'OK' ? `: ${first.text}` : ''}\n\n`);
    if (findings.some((f) => f.level === 'config')) status = EX_CONFIG;
    else if (v === 'FAIL' && status === EX_OK) status = EX_UNAVAILABLE;
  }
  return status;
}
