/**
 * smtpin/auth.ts — the listener's SMTP AUTH users: a file of `user:hash` lines, checked with
 * scrypt from node:crypto (no external dependency, memory-hard).
 *
 * File format (`auth_users_file`, or `outbox serve --auth-users FILE`), one user per line, `#`
 * comments and blank lines ignored:
 *
 *     alice:scrypt$16384$8$1$<salt, base64>$<key, base64>
 *
 * i.e. scrypt with N=16384, r=8, p=1, a 16-byte random salt and a 32-byte key. Create an entry
 * with `printf '%s\n' 'the password' | outbox serve --hash-password alice >> users`
 * (the password is read from stdin, never from argv, so it does not show in `ps`).
 * The file must not be readable or writable by group or others (else EX_CONFIG, 78), like every
 * credentials file of Outbox. It is re-read when its modification time changes.
 *
 * Throws OutboxError(EX_CONFIG) for an unreadable/insecure/malformed file (at start-up).
 * Next: session.ts (AUTH PLAIN / LOGIN, only after STARTTLS).
 */
import * as fs from 'node:fs';
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { EX_CONFIG, OutboxError } from '../sysexits.js';

const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;

function scrypt(password: string, salt: Buffer, n: number, r: number, p: number, keylen: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, keylen, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, N, R, P, KEYLEN);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface Parsed {
  n: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

export function parseHash(h: string): Parsed | null {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(h);
  if (!m) return null;
  const n = Number(m[1]);
  const r = Number(m[2]);
  const p = Number(m[3]);
  // Bounded cost: a hostile or mistaken file cannot make one check take gigabytes.
  if (n < 2 || n > 1 << 20 || (n & (n - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) return null;
  const key = Buffer.from(m[5]!, 'base64');
  if (key.length < 16 || key.length > 64) return null;
  return { n, r, p, salt: Buffer.from(m[4]!, 'base64'), key };
}

export async function verifyHash(password: string, hash: string): Promise<boolean> {
  const h = parseHash(hash);
  if (!h) return false;
  const key = await scrypt(password, h.salt, h.n, h.r, h.p, h.key.length);
  return timingSafeEqual(key, h.key);
}

/** Parse the users file text; errors name the line. */
export function parseUsers(text: string, file: string): Map<string, string> {
  const users = new Map<string, string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (colon <= 0 || !parseHash(hash)) {
      throw new OutboxError(EX_CONFIG, `${file}:${i + 1}: expected user:scrypt$N$r$p$salt$key (create one with outbox serve --hash-password USER)`);
    }
    users.set(user, hash);
  });
  return users;
}

export class UsersFile {
  private users = new Map<string, string>();
  private mtimeMs = -1;
  /** A hash to spend the same time on for unknown users (no user enumeration by timing). */
  private readonly decoy = `scrypt$${N}$${R}$${P}$${randomBytes(16).toString('base64')}$${randomBytes(KEYLEN).toString('base64')}`;

  constructor(readonly file: string) {
    this.load();
  }

  /** (Re)read the file if it changed. Throws OutboxError(EX_CONFIG). */
  load(): void {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.file);
    } catch (e) {
      throw new OutboxError(EX_CONFIG, `${this.file}: cannot read the AUTH users file: ${(e as Error).message}`);
    }
    if (st.mtimeMs === this.mtimeMs) return;
    if ((st.mode & 0o066) !== 0) {
      throw new OutboxError(EX_CONFIG, `${this.file}: the AUTH users file must not be readable or writable by group or others (chmod 600)`);
    }
    this.users = parseUsers(fs.readFileSync(this.file, 'utf8'), this.file);
    this.mtimeMs = st.mtimeMs;
  }

  async verify(user: string, password: string): Promise<boolean> {
    try {
      this.load();
    } catch {
      // A broken edit while running: keep the users we had (the error shows at the next start).
    }
    const hash = this.users.get(user);
    const ok = await verifyHash(password, hash ?? this.decoy);
    return ok && hash !== undefined;
  }
}

/**
 * Failed AUTH per client address, across connections (brute force from one address opens many
 * connections; the session's own limit is 3 per connection). After the k-th failure the 535 is
 * delayed by min(BASE_DELAY_MS * 2^(k-1), MAX_DELAY_MS); after MAX_FAILURES failures within
 * WINDOW_MS the address gets 421 at AUTH, without a password check, until its oldest failure is
 * older than WINDOW_MS. A success forgets the address. At most MAX_ADDRESSES are remembered
 * (the oldest is forgotten first), so memory stays bounded whatever the clients do.
 */
export class AuthThrottle {
  static readonly MAX_FAILURES = 5;
  static readonly WINDOW_MS = 15 * 60_000;
  static readonly BASE_DELAY_MS = 200;
  static readonly MAX_DELAY_MS = 10_000;
  static readonly MAX_ADDRESSES = 10_000;
  private failures = new Map<string, number[]>();

  constructor(private readonly now: () => number = Date.now) {}

  private recent(ip: string): number[] {
    const t = this.now();
    const list = (this.failures.get(ip) ?? []).filter((x) => t - x < AuthThrottle.WINDOW_MS);
    if (list.length === 0) this.failures.delete(ip);
    else this.failures.set(ip, list);
    return list;
  }

  /** A refusal text when the address has failed too often, else null. */
  blocked(ip: string): string | null {
    const n = this.recent(ip).length;
    return n >= AuthThrottle.MAX_FAILURES ? `Error: too many authentication failures from ${ip}, try again later` : null;
  }

  /** Record a failure; returns how long to wait before answering it. */
  failed(ip: string): number {
    const list = this.recent(ip);
    list.push(this.now());
    this.failures.delete(ip); // re-insert: the map's order is the age order for eviction
    this.failures.set(ip, list);
    if (this.failures.size > AuthThrottle.MAX_ADDRESSES) this.failures.delete(this.failures.keys().next().value!);
    return Math.min(AuthThrottle.BASE_DELAY_MS * 2 ** (list.length - 1), AuthThrottle.MAX_DELAY_MS);
  }

  succeeded(ip: string): void {
    this.failures.delete(ip);
  }
}

/**
 * May a client authenticated as `user` use envelope sender `sender`? A user name with an `@` must
 * be the sender itself; a plain name must be the sender's local part at one of this host's
 * domains (`domain`, `hostname`, `local_domains`). Case-blind; the null sender is refused.
 * Returns the refusal text, or null. Pure.
 */
export function senderLoginMismatch(sender: string, user: string, domains: string[]): string | null {
  const s = sender.toLowerCase();
  const u = user.toLowerCase();
  const at = s.lastIndexOf('@');
  const ok = u.includes('@') ? s === u : at > 0 && s.slice(0, at) === u && domains.some((d) => d.toLowerCase() === s.slice(at + 1));
  return ok ? null : `Sender address rejected: <${sender}> is not owned by user ${user}`;
}
