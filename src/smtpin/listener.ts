/**
 * smtpin/listener.ts — the optional SMTP listener that `outbox serve` runs (commands/serve.ts
 * parses its options; off unless you run it).
 *
 * Settings come from the `[listener]` table of the configuration file (config.listener,
 * ListenerSettings in src/config/types.ts); a command-line option replaces the file's key.
 * Each connection runs the same engine as `sendmail -bs` (session.ts) and commits through
 * submit(), with origin "smtp".
 *
 * No open relay, by construction:
 *  - Without AUTH configured, only loopback addresses (127.0.0.0/8, ::1) may be listened on;
 *    anything else is refused at start-up (EX_CONFIG, 78). A client whose address is not
 *    loopback is refused at the greeting (554) in any case.
 *  - With AUTH configured (users file + certificate: AUTH PLAIN/LOGIN is only offered after
 *    STARTTLS), any address may be listened on; loopback clients may submit as with -bs, every
 *    other client must authenticate first (RCPT gets 530 5.7.0 until then).
 * Started as root, it binds first (ports below 1024) and then becomes the spool owner
 * (spool/privileges.ts), so sessions never run as root and mail is never recorded as root's.
 * AUTH: failures are counted per client address across connections (auth.ts AuthThrottle:
 * growing delays, 421 after 5 in 15 minutes); an authenticated client must use a MAIL FROM its
 * user owns (auth.ts senderLoginMismatch) unless `sender_login_match` is "never" (default
 * "remote": non-loopback clients; "always": every client).
 * Limits: `max_clients` concurrent sessions (more get 421 4.3.2 and are closed), an idle timeout
 * for every wait (421 4.4.2), and the per-session limits of session.ts.
 *
 * Logging, one line per event on stderr, Postfix-shaped (journald/syslog add the time):
 *   outbox/smtpd[PID]: connect from localhost[127.0.0.1]
 *   outbox/smtpd[PID]: 1M8151HAMM2D: client=localhost[127.0.0.1], sasl_method=PLAIN, sasl_username=alice
 *   outbox/smtpd[PID]: disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
 *
 * After commits, when `delivery` is background and a relay is configured and no queue daemon
 * runs, one queue run (`outbox -q`) is started shortly after new mail arrived, at most one at a
 * time. Stops on SIGTERM/SIGINT (open sessions are closed; uncommitted DATA is discarded).
 * Throws OutboxError: EX_CONFIG (settings), EX_OSERR (cannot listen).
 */
import { lazyLog } from '../log/log.js';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { spawn } from 'node:child_process';
import { currentUser } from '../passwd.js';
import type { Config } from '../config/config.js';
import type { ListenerSettings } from '../config/types.js';
import { relayConfigured } from '../relay/env.js';
import { runnerWatching } from '../spool/pidfile.js';
import { selfCommand } from '../submit/child.js';
import { rerunIfBusy } from '../rerun.js';
import { EX_CONFIG, EX_OK, EX_OSERR, OutboxError } from '../sysexits.js';
import { AuthThrottle, senderLoginMismatch, UsersFile } from './auth.js';
import { dropToSpoolOwner } from '../spool/privileges.js';
import { InputQueue } from './input.js';
import { isLoopback } from './protocol.js';
import { SmtpSession } from './session.js';
import type { Authenticator } from './sasl.js';
import type { Transport } from './transport.js';
import { feed, writer } from './transport.js';

export const DEFAULT_MAX_CLIENTS = 100;
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;

export interface ListenAddress {
  host: string;
  port: number;
}

/** "127.0.0.1:10587", "[::1]:587", "localhost:25" (= 127.0.0.1). IP literals only otherwise. */
export function parseListen(s: string): ListenAddress {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:\[\]]+):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new OutboxError(EX_CONFIG, `listen address ${JSON.stringify(s)}: expected HOST:PORT, e.g. 127.0.0.1:10587 or [::1]:587`);
  const host = m[1] === 'localhost' ? '127.0.0.1' : m[1]!;
  if (net.isIP(host) === 0) throw new OutboxError(EX_CONFIG, `listen address ${s}: the host must be an IP address (or localhost)`);
  return { host, port };
}

/** Validate listener settings; the no-open-relay rules that can be checked before binding. */
export function checkListener(l: ListenerSettings): ListenAddress[] {
  if (!l.listen || l.listen.length === 0) {
    throw new OutboxError(EX_CONFIG, 'serve: no listen address (set listen = ["127.0.0.1:10587"] in [listener], or --listen)');
  }
  if ((l.tlsCert === undefined) !== (l.tlsKey === undefined)) throw new OutboxError(EX_CONFIG, 'serve: tls_cert and tls_key go together');
  if (l.authUsersFile && !l.tlsCert) {
    throw new OutboxError(EX_CONFIG, 'serve: AUTH needs tls_cert and tls_key (passwords are only accepted after STARTTLS)');
  }
  const addrs = l.listen.map(parseListen);
  for (const a of addrs) {
    if (!isLoopback(a.host) && !l.authUsersFile) {
      throw new OutboxError(
        EX_CONFIG,
        `serve: refusing to listen on ${a.host}:${a.port} without AUTH: only loopback addresses (127.0.0.1, ::1) may be used unless auth_users_file is set (no open relay)`,
      );
    }
  }
  return addrs;
}

// The one logger of the program (src/log/log.ts): stderr under a service manager or when
// OUTBOX_LOG=stderr, syslog otherwise; opened on first use.
const logger = lazyLog({ verbose: false, stderr: process.stderr, tag: 'outbox/smtpd' });
function log(line: string): void {
  logger.line(null, line);
}

/** Coalesced delivery trigger for the listener (see the header). */
function makeKicker(config: Config): () => void {
  if (config.delivery !== 'background' || !relayConfigured(config)) return () => {};
  let timer: NodeJS.Timeout | null = null;
  // One `-q` run at a time; commits during a run start one more after it (src/rerun.ts).
  const startRun = rerunIfBusy(async () => {
    if (runnerWatching(config.spool) !== null) return;
    const self = selfCommand();
    await new Promise<void>((done) => {
      try {
        const child = spawn(self.command, [...self.prefix, '-q', ...(config.file ? ['-C', config.file] : [])], {
          argv0: self.argv0,
          stdio: 'ignore',
          env: { ...process.env, OUTBOX_SPOOL: config.spool },
        });
        child.on('error', () => done());
        child.on('exit', () => done());
      } catch {
        done(); // the messages are queued; the next run takes them
      }
    });
  });
  const schedule = () => {
    timer ??= setTimeout(() => {
      timer = null;
      void startRun();
    }, 500);
  };
  return schedule;
}

export async function serve(config: Config, settings: ListenerSettings, addrs: ListenAddress[]): Promise<number> {
  const maxClients = settings.maxClients ?? DEFAULT_MAX_CLIENTS;
  const idle = settings.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  let secureContext: tls.SecureContext | undefined;
  if (settings.tlsCert && settings.tlsKey) {
    try {
      secureContext = tls.createSecureContext({ cert: fs.readFileSync(settings.tlsCert), key: fs.readFileSync(settings.tlsKey) });
    } catch (e) {
      throw new OutboxError(EX_CONFIG, `serve: cannot load the TLS certificate or key: ${(e as Error).message}`);
    }
  }
  const users = settings.authUsersFile ? new UsersFile(settings.authUsersFile) : undefined;
  const throttle = new AuthThrottle();
  /** AUTH for one client address: refused after too many failures from it, each failure answered later than the last. */
  const authFor = (ip: string): Authenticator | undefined =>
    users && {
      mechanisms: ['PLAIN', 'LOGIN'],
      refusal: () => throttle.blocked(ip),
      async verify(u, p) {
        if (await users.verify(u, p)) {
          throttle.succeeded(ip);
          return true;
        }
        await new Promise((r) => setTimeout(r, throttle.failed(ip)));
        return false;
      },
    };
  const senderMatch = settings.senderLoginMatch ?? 'remote';
  const domains = [config.domain, config.hostname, ...(config.localDomains ?? [])];
  // Set once the listeners are bound and root is dropped (below): the identity mail is recorded with.
  let user = currentUser();
  const kick = makeKicker(config);
  const sockets = new Set<net.Socket>();
  let active = 0;

  const handle = (sock: net.Socket) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    sock.setNoDelay(true);
    const ip = (sock.remoteAddress ?? '').replace(/^::ffff:(?=\d+\.)/, '');
    const local = isLoopback(ip);
    const clientName = `${local ? 'localhost' : 'unknown'}[${ip}]`;
    if (active >= maxClients) {
      log(`warning: too many connections: refusing ${clientName}`);
      sock.end(`421 4.3.2 ${config.hostname} Error: too many connections, try again later\r\n`);
      setTimeout(() => sock.destroy(), 1000).unref();
      return;
    }
    active++;
    log(`connect from ${clientName}`);
    const input = new InputQueue({ pause: () => sock.pause(), resume: () => sock.resume() });
    let detach = feed(input, sock);
    sock.on('close', () => input.end());
    let write = writer(sock, () => idle);
    let tlsSock: tls.TLSSocket | null = null;
    const transport: Transport = {
      input,
      secure: false,
      write: (text) => write(text),
      ...(secureContext
        ? {
            startTls: async () => {
              detach();
              const dropped = input.replaceSource({ pause: () => tlsSock?.pause(), resume: () => tlsSock?.resume() });
              if (dropped > 0) log(`warning: ${clientName}: ${dropped} bytes pipelined after STARTTLS discarded`);
              tlsSock = new tls.TLSSocket(sock, { isServer: true, secureContext: secureContext! });
              tlsSock.on('error', () => {});
              await new Promise<void>((resolve, reject) => {
                const t = setTimeout(() => reject(new Error('TLS handshake timeout')), idle);
                tlsSock!.once('secure', () => {
                  clearTimeout(t);
                  resolve();
                });
                tlsSock!.once('error', (e) => {
                  clearTimeout(t);
                  reject(e);
                });
              });
              detach = feed(input, tlsSock);
              tlsSock.on('close', () => input.end());
              write = writer(tlsSock, () => idle);
              transport.secure = true;
            },
          }
        : {}),
    };
    const session = new SmtpSession(transport, {
      config,
      origin: 'smtp',
      submitter: { uid: user.uid, name: user.name },
      client: { host: local ? 'localhost' : 'unknown', ip, trusted: local },
      ...(users ? { auth: authFor(ip)! } : {}),
      ...(senderMatch === 'always' || (senderMatch === 'remote' && !local)
        ? { checkSender: (sender: string, saslUser: string | undefined) => (saslUser === undefined ? null : senderLoginMismatch(sender, saslUser, domains)) }
        : {}),
      ...(!local && !users ? { refuse: `${config.hostname} Error: access denied: only local clients may connect` } : {}),
      idleTimeoutMs: idle,
      log,
      onCommitted: (info) => {
        log(`${info.id}: client=${info.client}${info.saslUser !== undefined ? `, sasl_method=${info.saslMethod}, sasl_username=${info.saslUser}` : ''}`);
        log(`${info.id}: from=<${info.sender}>, size=${info.size}, nrcpt=${info.recipients.length} (queue active)`);
        kick();
      },
    });
    session.run().then(
      (end) => {
        const c = session.counts;
        const total = Object.values(c).reduce((a, b) => a + b, 0);
        const parts = Object.entries(c).map(([k, n]) => `${k}=${n}`);
        log(`${end === 'quit' || end === 'eof' ? 'disconnect' : `${end} after session`} from ${clientName} ${parts.join(' ')} commands=${total}`.trimEnd());
        active--;
        const s = (tlsSock ?? sock) as net.Socket;
        s.end();
        setTimeout(() => {
          s.destroy();
          sock.destroy();
        }, 2000).unref();
      },
      () => {
        active--;
        sock.destroy();
      },
    );
  };

  const servers: net.Server[] = [];
  try {
    for (const a of addrs) {
      const server = net.createServer({ pauseOnConnect: false }, handle);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: a.host, port: a.port, ipv6Only: a.host.includes(':'), backlog: 511 }, () => {
          server.removeListener('error', reject);
          resolve();
        });
      });
      server.on('error', (e) => log(`warning: ${e.message}`));
      servers.push(server);
      const bound = server.address() as net.AddressInfo;
      log(
        `listening on ${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}${users ? ' (AUTH after STARTTLS)' : ' (local clients only)'}`,
      );
    }
  } catch (e) {
    for (const s of servers) s.close();
    throw new OutboxError(EX_OSERR, `serve: cannot listen: ${(e as Error).message}`);
  }
  // Bound (ports below 1024 needed root): now root is given up for the spool owner, so sessions
  // and the mail they commit are never root's (spool/privileges.ts). Throws rather than stay root.
  const dropped = dropToSpoolOwner(config);
  if (dropped) {
    user = currentUser();
    log(`running as uid ${dropped.uid} (the spool owner)`);
  }

  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log(`${sig}: stopping`);
      process.removeListener('SIGTERM', onTerm);
      process.removeListener('SIGINT', onInt);
      for (const s of servers) s.close();
      for (const s of sockets) s.destroy();
      resolve();
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  // Let sessions that were mid-commit finish removing their partial files.
  const deadline = Date.now() + 5000;
  while (active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await logger.close();
  return EX_OK;
}
