/**
 * test/helpers/users.ts — unprivileged users and system spools for the privilege tests (which
 * need root: CI runs as root). Users are created once with useradd (system users, no home, no
 * login shell) and removed with userdel by removeUsers(); a user left over by a killed run is
 * reused. Commands run as a user through setpriv (real and effective uid/gid, the user's
 * groups), optionally with --no-new-privs (PHP-FPM under systemd's NoNewPrivileges=yes).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO, SENDMAIL, run, sleep, start, type RunOptions, type RunResult } from './run.js';

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('the privilege tests need root (CI runs as root): run them with sudo');
}

export function lookupUser(name: string): TestUser | null {
  try {
    const [, , uid, gid] = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':');
    return { name, uid: Number(uid), gid: Number(gid) };
  } catch {
    return null;
  }
}

/** Create (or reuse) a system user with its own group. */
export function ensureUser(name: string): TestUser {
  const existing = lookupUser(name);
  if (existing) return existing;
  // Bounded retry: another test file creating its users at the same moment holds /etc/passwd's lock.
  for (let attempt = 1; ; attempt++) {
    try {
      execFileSync('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--user-group', name], {
        stdio: 'pipe',
      });
      break;
    } catch {
      if (lookupUser(name) || attempt >= 20) break;
      execFileSync('sleep', ['0.25']);
    }
  }
  const u = lookupUser(name);
  if (!u) throw new Error(`useradd ${name} did not create the user`);
  return u;
}

export function removeUsers(names: string[]): void {
  for (const n of names) {
    if (!lookupUser(n)) continue;
    try {
      execFileSync('userdel', [n], { stdio: 'ignore' });
    } catch {
      // a process of the user still running: left for the next run to reuse
    }
  }
}

/** Run `cmd args` as `user` (setpriv: uid, gid and the user's groups; optionally no_new_privs). */
export function asUser(user: TestUser | string, cmd: string, args: string[], opts: RunOptions & { noNewPrivs?: boolean } = {}): Promise<RunResult> {
  const name = typeof user === 'string' ? user : user.name;
  const pre = ['--reuid', name, '--regid', name, '--init-groups', ...(opts.noNewPrivs ? ['--no-new-privs'] : [])];
  return run('setpriv', [...pre, cmd, ...args], opts);
}

/** A world-traversable temp directory holding a system spool owned by `owner` (scripts/package/mkspool.sh). */
export function systemSpool(owner: TestUser, extraConfig = ''): { dir: string; spool: string; config: string; env: Record<string, string>; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-privsep-'));
  fs.chmodSync(dir, 0o755);
  const spool = path.join(dir, 'spool');
  execFileSync(path.join(REPO, 'scripts/package/mkspool.sh'), [spool, owner.name, owner.name]);
  const config = path.join(dir, 'outbox.conf');
  fs.writeFileSync(config, `spool = "${spool}"\ndomain = "example.test"\nhostname = "host.example.test"\n${extraConfig}`, { mode: 0o644 });
  fs.chmodSync(config, 0o644);
  return { dir, spool, config, env: { OUTBOX_CONFIG: config, HOME: dir }, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** `sendmail -bd` as root on `spool` (it drops to the runner), once its query socket is open; stop() ends it (bounded). */
export async function startDaemon(spool: string, env: Record<string, string>) {
  const daemon = start(SENDMAIL, ['-bd'], { env });
  let log = '';
  daemon.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((r) => daemon.on('close', (code) => r(code)));
  const sock = path.join(spool, 'run', 'query.sock');
  for (let i = 0; i < 200 && !fs.existsSync(sock); i++) await sleep(50);
  if (!fs.existsSync(sock)) throw new Error(`the daemon did not open ${sock}: ${log}`);
  return {
    pid: daemon.pid!,
    log: () => log,
    stop: async () => {
      daemon.kill('SIGTERM');
      const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout')]);
      if (code === 'timeout') daemon.kill('SIGKILL');
    },
  };
}

/**
 * Write, as `user`, the envelope of a hand-planted drop `file` (incoming/<ID>.<R>) of `size`
 * bytes: the fields sendmail would write (src/spool/drop.ts), overridden by `extra`. For tests
 * that bypass sendmail to attack pickup.
 */
export async function writeDropEnvelope(user: TestUser, file: string, size: number, extra: Record<string, unknown> = {}): Promise<void> {
  const env = {
    v: 1,
    id: path.basename(file).slice(0, 12),
    arrival: Date.now(),
    uid: user.uid,
    user: user.name,
    sender: `${user.name}@example.test`,
    recipients: [{ address: 'victim@example.com', status: 'pending' }],
    body: '7BIT',
    smtputf8: false,
    size,
    origin: 'sendmail',
    attempts: 0,
    nextAttempt: 0,
    hold: false,
    history: [],
    ...extra,
  };
  const r = await asUser(user, 'sh', ['-c', 'cat > "$1"', 'sh', `${file}.env`], { input: JSON.stringify(env) });
  if (r.code !== 0) throw new Error(`writing ${file}.env as ${user.name}: ${r.stderr}`);
}
