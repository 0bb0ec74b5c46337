/**
 * Access to the private, real Postfix smarthost started by
 * `scripts/test/postfix-smarthost.sh start DIR` (see that script).
 *
 * Tests get it from usePostfixSmarthost(): CI's instance (OUTBOX_TEST_POSTFIX_DIR), or a private
 * one started on a free port for the test file.
 *
 * The smarthost listens on 127.0.0.1:<port>, requires STARTTLS (server cert
 * for "localhost" / 127.0.0.1, signed by the CA at `ca`) before AUTH
 * PLAIN/LOGIN, and delivers every accepted recipient, of any domain, into
 * the single Maildir `maildir` (Postfix prepends Return-Path, X-Original-To,
 * Delivered-To and Received headers and stores LF line endings; the rest of
 * the message is as sent). DSN success/failure reports that Postfix
 * generates are delivered into the same Maildir (they have "Return-Path: <>").
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Smarthost {
  port: number;
  ca: string;
  maildir: string;
  user: string;
  password: string;
}

/**
 * Undo bash's `printf %q` quoting (the script writes DIR/env that way):
 * backslash escapes, '…' and $'…' segments.
 */
function unquoteShell(s: string): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      out += s[i + 1];
      i += 2;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote in ${JSON.stringify(s)}`);
      out += s.slice(i + 1, end);
      i = end + 1;
    } else if (c === '$' && s[i + 1] === "'") {
      i += 2;
      const simple: Record<string, string> = {
        n: '\n',
        t: '\t',
        r: '\r',
        a: '\x07',
        b: '\b',
        e: '\x1b',
        E: '\x1b',
        f: '\f',
        v: '\v',
        '\\': '\\',
        "'": "'",
        '"': '"',
        '?': '?',
      };
      while (i < s.length && s[i] !== "'") {
        if (s[i] === '\\' && i + 1 < s.length) {
          const e = s[i + 1]!;
          if (e in simple) {
            out += simple[e];
            i += 2;
          } else if (e === 'x') {
            const m = /^[0-9a-fA-F]{1,2}/.exec(s.slice(i + 2))!;
            out += String.fromCharCode(parseInt(m[0], 16));
            i += 2 + m[0].length;
          } else if (/[0-7]/.test(e)) {
            const m = /^[0-7]{1,3}/.exec(s.slice(i + 1))!;
            out += String.fromCharCode(parseInt(m[0], 8));
            i += 1 + m[0].length;
          } else {
            out += '\\' + e;
            i += 2;
          }
        } else {
          out += s[i];
          i += 1;
        }
      }
      i += 1; // closing quote
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

/** Reads DIR/env written by `postfix-smarthost.sh start DIR`; returns null when the env var OUTBOX_TEST_POSTFIX_DIR is unset or the file is missing. */
export function postfixSmarthost(): Smarthost | null {
  const dir = process.env.OUTBOX_TEST_POSTFIX_DIR;
  if (!dir) return null;
  let text: string;
  try {
    text = readFileSync(join(dir, 'env'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) vars.set(m[1]!, unquoteShell(m[2]!));
  }
  const get = (name: string): string => {
    const v = vars.get(name);
    if (v === undefined || v === '') throw new Error(`${join(dir, 'env')}: ${name} missing`);
    return v;
  };
  const port = Number(get('SMARTHOST_PORT'));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`${join(dir, 'env')}: bad SMARTHOST_PORT ${vars.get('SMARTHOST_PORT')}`);
  }
  return {
    port,
    ca: get('SMARTHOST_CA'),
    maildir: get('SMARTHOST_MAILDIR'),
    user: get('SMARTHOST_USER'),
    password: get('SMARTHOST_PASSWORD'),
  };
}

/**
 * The environment that sends through the smarthost (OUTBOX_RELAY, its password in DIR/password
 * with mode 0600, OUTBOX_RELAY_CA), with log lines on stderr.
 */
export function smarthostEnv(sh: Smarthost, dir: string): Record<string, string> {
  const pw = join(dir, 'password');
  writeFileSync(pw, `${sh.password}\n`, { mode: 0o600 });
  return {
    OUTBOX_RELAY: `smtp+starttls://${encodeURIComponent(sh.user)}@localhost:${sh.port}`,
    OUTBOX_RELAY_PASSWORD_FILE: pw,
    OUTBOX_RELAY_CA: sh.ca,
    OUTBOX_LOG: 'stderr',
  };
}

/** Message files currently in maildir's new/ and cur/ (full paths, sorted). */
async function listMaildir(maildir: string): Promise<string[]> {
  const paths: string[] = [];
  for (const sub of ['new', 'cur']) {
    let names: string[];
    try {
      names = await readdir(join(maildir, sub));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const name of names) {
      if (!name.startsWith('.')) paths.push(join(maildir, sub, name));
    }
  }
  return paths.sort();
}

/**
 * Lists files in maildir new/ (and cur/), bounded wait up to timeoutMs for at
 * least `count` messages; returns their paths. On timeout it returns what is
 * there (possibly fewer than `count`), so the caller's assertion reports it.
 */
export async function waitForMaildir(maildir: string, count: number, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + Math.max(0, timeoutMs);
  let delay = 20;
  for (;;) {
    const paths = await listMaildir(maildir);
    if (paths.length >= count) return paths;
    const left = deadline - Date.now();
    if (left <= 0) return paths;
    await sleep(Math.min(delay, left));
    delay = Math.min(delay * 2, 250);
  }
}

/**
 * The smarthost for a test file: the one named by OUTBOX_TEST_POSTFIX_DIR (CI starts it), else a
 * private instance started here on a free loopback port and stopped by stop(). Postfix must be
 * installed (`scripts/test/postfix-smarthost.sh install`, which `npm test` does): without it this
 * rejects with that instruction, so the tests fail instead of quietly not running.
 */
export async function usePostfixSmarthost(): Promise<{ sh: Smarthost; stop: () => void }> {
  const shared = postfixSmarthost();
  if (shared) return { sh: shared, stop: () => {} };
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const net = await import('node:net');
  const { fileURLToPath } = await import('node:url');
  const script = join(fileURLToPath(new URL('.', import.meta.url)), '../../../scripts/test/postfix-smarthost.sh');
  const port = await new Promise<number>((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as import('node:net').AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
  const dir = mkdtempSync(join(tmpdir(), 'outbox-postfix-'));
  try {
    execFileSync(script, ['start', dir], { env: { ...process.env, SMARTHOST_PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`cannot start a Postfix smarthost (run scripts/test/postfix-smarthost.sh install first): ${stderr.trim() || (e as Error).message}`);
  }
  const saved = process.env.OUTBOX_TEST_POSTFIX_DIR;
  process.env.OUTBOX_TEST_POSTFIX_DIR = dir;
  const sh = postfixSmarthost()!;
  if (saved === undefined) delete process.env.OUTBOX_TEST_POSTFIX_DIR;
  else process.env.OUTBOX_TEST_POSTFIX_DIR = saved;
  return {
    sh,
    stop: () => {
      try {
        execFileSync(script, ['stop', dir], { stdio: 'ignore', timeout: 30_000 });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
