/**
 * log/log.ts — one line per delivery event, in Postfix's shape so that pflogsumm, grep habits
 * and fail2ban-style tools keep working. Each line is tagged with its service, as Postfix's
 * programs tag theirs (pflogsumm --syslog-name=outbox reads `outbox/SERVICE[PID]:`):
 *
 *   outbox/pickup[PID]: QUEUEID: uid=N from=<sender>
 *   outbox/qmgr[PID]: QUEUEID: from=<sender>, size=N, nrcpt=N (queue active)
 *   outbox/smtp[PID]: QUEUEID: to=<rcpt>, relay=host[ip]:port, delay=S, delays=a/b/c/d, dsn=X.Y.Z, status=sent (250 ...)
 *   outbox/bounce[PID]: QUEUEID: sender non-delivery notification: QUEUEID
 *   outbox/qmgr[PID]: QUEUEID: removed
 *
 * A caller may name the service; otherwise serviceOf() infers it from the line's shape.
 * The program's one logger: the runner, pickup (LineLog), the query server and the listener
 * (lazyLog: opened by its first line) all write through openLog().
 *
 * delays: a = time in the queue before this attempt, b = waiting for a free connection,
 * c = connection setup (TCP, TLS, AUTH; 0 on a reused connection), d = the transaction.
 *
 * Where lines go (chosen once per process):
 *   - stderr, when it is the journal (JOURNAL_STREAM names fd 2), when running under a service
 *     manager (INVOCATION_ID set and stderr is not /dev/null), with -v, or when stderr is a
 *     terminal. `OUTBOX_LOG=stderr` forces it (tests use that).
 *   - otherwise syslog, facility mail. Node cannot send to /dev/log's datagram socket without a
 *     native module, so one `logger(1)` child (util-linux, present on every Debian system) is
 *     started per service per run (logger takes one tag) and fed its lines through a pipe, with a <PRI> prefix per line
 *     (--prio-prefix): a few processes per run, not one per line. If /dev/log does not exist (a
 *     container without syslog) or `logger` cannot be started, lines go to stderr instead.
 *     `OUTBOX_LOG=syslog` forces syslog; `OUTBOX_LOG=none` discards lines.
 * The spool's control records keep the history of every message in any case (mailq, `outbox
 * queue show`). Lines never hold credentials: they are built from replies and our own text.
 */
import * as fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';

export type Level = 'info' | 'warning' | 'error';

/** Postfix's service names, as pflogsumm and log habits know them. */
export type Service = 'pickup' | 'qmgr' | 'smtp' | 'bounce' | 'smtpd' | 'query';

export interface Log {
  /** One line about queue id `id` (or the program itself when id is null). */
  line(id: string | null, text: string, level?: Level, service?: Service): void;
  close(): Promise<void>;
  readonly target: 'stderr' | 'syslog' | 'none';
}

/** The part of a Log that code which only writes lines takes (pickup, the query server). */
export type LineLog = Pick<Log, 'line'>;

/** Seconds the way Postfix prints them: 0, 0.04, 1.2, 17. */
export function seconds(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s === 0) return '0';
  if (s >= 10) return String(Math.round(s));
  if (s >= 1) return String(Math.round(s * 10) / 10);
  const r = Math.round(s * 100) / 100;
  return r === 0 ? '0.01' : String(r);
}

export interface DeliveryLine {
  rcpt: string;
  relay: string;
  /** ms since arrival */
  delay: number;
  delays: [number, number, number, number];
  dsn: string;
  status: 'sent' | 'deferred' | 'bounced' | 'expired';
  reason: string;
}

export function formatDelivery(d: DeliveryLine): string {
  return `to=<${d.rcpt}>, relay=${d.relay}, delay=${seconds(d.delay)}, delays=${d.delays.map(seconds).join('/')}, dsn=${d.dsn}, status=${d.status} (${d.reason})`;
}

export function formatPickup(sender: string, size: number, nrcpt: number): string {
  return `from=<${sender}>, size=${size}, nrcpt=${nrcpt} (queue active)`;
}

/** The line Postfix's pickup writes once per submitted message (pflogsumm counts it as received). */
export function formatReceived(uid: number, sender: string): string {
  return `uid=${uid} from=<${sender}>`;
}

/** The service a line belongs to, from its Postfix shape; everything else is the queue manager's. */
export function serviceOf(text: string): Service {
  if (/^to=<[^>]*>, (?:orig_to=<[^>]*>, )?relay=/.test(text) && !/, status=expired\b/.test(text)) return 'smtp';
  if (/^(?:uid|sender)=/.test(text)) return 'pickup';
  if (/^sender (?:non-delivery|delay|delivery status) notification: /.test(text)) return 'bounce';
  return 'qmgr';
}

function isDevNull(fd: number): boolean {
  try {
    const st = fs.fstatSync(fd);
    const nul = fs.statSync('/dev/null');
    return st.isCharacterDevice() && st.rdev === nul.rdev;
  } catch {
    return true;
  }
}

/** Is fd 2 the journal stream systemd gave us (JOURNAL_STREAM=dev:ino)? */
function stderrIsJournal(env: NodeJS.ProcessEnv): boolean {
  const js = env.JOURNAL_STREAM;
  if (!js) return false;
  const [dev, ino] = js.split(':').map(Number);
  try {
    const st = fs.fstatSync(2);
    return st.dev === dev && st.ino === ino;
  } catch {
    return false;
  }
}

export type Target = 'stderr' | 'syslog' | 'none';

/** Where to log: see the header. Pure apart from the fstat of fd 2. */
export function chooseTarget(env: NodeJS.ProcessEnv, verbose: boolean, stderrTty: boolean): Target {
  const forced = env.OUTBOX_LOG?.toLowerCase();
  if (forced === 'stderr' || forced === 'syslog' || forced === 'none') return forced;
  if (verbose || stderrTty || stderrIsJournal(env)) return 'stderr';
  if (env.INVOCATION_ID && !isDevNull(2)) return 'stderr';
  return 'syslog';
}

const PRI: Record<Level, number> = { info: 2 * 8 + 6, warning: 2 * 8 + 4, error: 2 * 8 + 3 };

export interface LogOptions {
  env?: NodeJS.ProcessEnv;
  verbose: boolean;
  stderr: NodeJS.WritableStream;
  /** `outbox` (the service follows per line), or `outbox/SERVICE` for every line. */
  tag?: string;
}

/** A Log opened by its first line, for a module that may never log (the listener); closing an unopened one does nothing. */
export function lazyLog(opts: LogOptions): Log {
  let log: Log | null = null;
  const open = () => (log ??= openLog(opts));
  return {
    get target() {
      return open().target;
    },
    line: (id, text, level, service) => open().line(id, text, level, service),
    close: () => log?.close() ?? Promise.resolve(),
  };
}

export function openLog(opts: LogOptions): Log {
  const env = opts.env ?? process.env;
  const tag = opts.tag ?? 'outbox';
  const isTty = Boolean((opts.stderr as { isTTY?: boolean }).isTTY);
  let target = chooseTarget(env, opts.verbose, isTty);
  if (target === 'syslog' && !fs.existsSync('/dev/log')) target = 'stderr';
  // logger(1) takes one tag per process: one child per service that logs, started on first use.
  const children = new Map<string, ChildProcess | null>();
  const loggerFor = (fullTag: string): ChildProcess | null => {
    if (children.has(fullTag)) return children.get(fullTag)!;
    let child: ChildProcess | null = null;
    try {
      child = spawn('logger', ['-t', fullTag, `--id=${process.pid}`, '--prio-prefix'], { stdio: ['pipe', 'ignore', 'ignore'] });
      child.on('error', () => children.set(fullTag, null));
      child.stdin!.on('error', () => {});
      child.unref();
    } catch {
      child = null;
    }
    children.set(fullTag, child);
    return child;
  };
  // A tag that names its service already ('outbox/smtpd') keeps it for every line.
  const fixed = tag.includes('/');
  return {
    target,
    line(id, text, level = 'info', service) {
      if (target === 'none') return;
      const body = id ? `${id}: ${text}` : text;
      const fullTag = fixed ? tag : `${tag}/${service ?? serviceOf(text)}`;
      if (target === 'syslog') {
        const child = loggerFor(fullTag);
        if (child?.stdin?.writable) {
          child.stdin.write(`<${PRI[level]}>${body.replace(/\n/g, ' ')}\n`);
          return;
        }
      }
      opts.stderr.write(`${fullTag}[${process.pid}]: ${body}\n`);
    },
    close() {
      const open = [...children.values()].filter((c): c is ChildProcess => c !== null && c.stdin !== null);
      return Promise.all(
        open.map(
          (c) =>
            new Promise<void>((resolve) => {
              const t = setTimeout(resolve, 1000);
              t.unref();
              c.once('close', () => {
                clearTimeout(t);
                resolve();
              });
              c.stdin!.end();
            }),
        ),
      ).then(() => {});
    },
  };
}
