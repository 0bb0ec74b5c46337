/**
 * End-to-end: bad configuration files of every kind through the built binary: the documented
 * message (FILE:LINE: KEY: ...) on stderr and exit 78; `outbox config check` and `migrate`.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { OUTBOX, REPO, SENDMAIL, cleanEnv, run, tempSpool } from '../helpers/run.js';

const t = tempSpool('outbox-config-e2e-');
after(() => t.cleanup());
let n = 0;
function conf(text: string, mode = 0o600): string {
  const f = path.join(t.dir, `c${++n}.conf`);
  fs.writeFileSync(f, text, { mode });
  fs.chmodSync(f, mode);
  return f;
}
const env = { ...t.env };

async function expect78(args: string[], re: RegExp, bin = SENDMAIL): Promise<string> {
  const r = await run(bin, args, { env, input: 'Subject: x\n\nbody\n' });
  assert.equal(r.code, 78, `exit ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, re);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one line on stderr');
  return r.stderr;
}

describe('bad configuration files exit 78 naming file:line:key', () => {
  it('syntax error', async () => {
    const f = conf('hostname = "a.example"\n[relay.x\nurl = "smtps://h"\n');
    await expect78(['-C', f, 'a@b.example'], new RegExp(`^sendmail: ${f}:2: syntax error: `));
  });
  it('unknown key with "did you mean"', async () => {
    const f = conf('[relay.main]\nurl = "smtps://u@h.example"\npasword_file = "/etc/x"\n');
    await expect78(
      ['-C', f, 'a@b.example'],
      new RegExp(`^sendmail: ${f}:3: relay\\.main\\.pasword_file: unknown key \\(did you mean "password_file"\\?\\)$`, 'm'),
    );
  });
  it('bad URL', async () => {
    const f = conf('[relay.main]\nurl = "smtp+startls://u@h.example"\n');
    await expect78(['-C', f, 'a@b.example'], new RegExp(`${f}:2: relay\\.main\\.url: unknown scheme "smtp\\+startls"`));
  });
  it('route to a relay that does not exist', async () => {
    const f = conf('[relay.main]\nurl = "smtps://u@h.example"\n[[route]]\ndomain = "x.example"\nrelay = "mian"\n');
    await expect78(['-C', f, '-bv', 'a@x.example'], new RegExp(`${f}:5: route\\[1\\]\\.relay: no relay named "mian" \\(did you mean "main"\\?\\)`));
  });
  it('inline password in a world-readable file, for every command', async () => {
    const f = conf('[relay.main]\nurl = "smtps://u@h.example"\npassword = "s3cret-inline"\n', 0o644);
    const e = await expect78(
      ['-C', f, 'a@b.example'],
      new RegExp(`${f}:3: relay\\.main\\.password: an inline password is only allowed in a private file.*chmod 600`),
    );
    assert.doesNotMatch(e, /s3cret-inline/);
    await expect78(['-C', f, '-bp'], /inline password/);
  });
  it('missing configuration file', async () => {
    await expect78(['-C', path.join(t.dir, 'nope.conf'), 'a@b.example'], /nope\.conf: configuration file not found/);
  });
});

describe('outbox config check', () => {
  it('a valid file: summary and exit 0; secrets are read but never printed', async () => {
    const pw = path.join(t.dir, 'good.password');
    fs.writeFileSync(pw, 'pw-never-shown\n', { mode: 0o600 });
    const f = conf(
      `[relay.main]\nurl = "smtp+starttls://me@smtp.example.com"\npassword_file = "${pw}"\n[relay.cmd]\nurl = "smtps://me@b.example.com"\npassword_command = "echo cmd-secret"\n`,
    );
    const r = await run(OUTBOX, ['config', 'check', '-C', f], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /relay main: smtp\+starttls:\/\/smtp\.example\.com:587 as me, password_file .* \(read: ok\)/);
    assert.match(r.stdout, /relay cmd: smtps:\/\/b\.example\.com:465 as me, password_command \(read: ok\)/);
    assert.match(r.stdout, /configuration OK/);
    assert.doesNotMatch(r.stdout + r.stderr, /pw-never-shown|cmd-secret/);
  });
  it('world-readable password file: refused with the fix, exit 78', async () => {
    const pw = path.join(t.dir, 'open.password');
    fs.writeFileSync(pw, 'open-secret\n');
    fs.chmodSync(pw, 0o644);
    const f = conf(`[relay.main]\nurl = "smtps://me@h.example.com"\npassword_file = "${pw}"\n`);
    const r = await run(OUTBOX, ['config', 'check', '-C', f], { env });
    assert.equal(r.code, 78);
    assert.match(
      r.stderr,
      new RegExp(`${f}:3: relay\\.main\\.password_file: refusing ${pw}: it is readable or writable by others \\(mode 0644\\); fix with: chmod 600 ${pw}`),
    );
    assert.doesNotMatch(r.stdout + r.stderr, /open-secret/);
  });
  it('unreadable password file (checked as an unprivileged user)', async (tc) => {
    const pw = path.join(t.dir, 'root-only.password');
    fs.writeFileSync(pw, 'x\n', { mode: 0o600 });
    const f = conf(`[relay.main]\nurl = "smtps://me@h.example.com"\npassword_file = "${pw}"\n`, 0o644);
    fs.chmodSync(t.dir, 0o755);
    if (process.getuid?.() !== 0) {
      // Not root: the file is ours; make it unreadable to ourselves instead.
      fs.chmodSync(pw, 0o000);
    }
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = spawn(OUTBOX, ['config', 'check', '-C', f], { env: cleanEnv(env), ...(process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}) });
      let stderr = '';
      c.stderr.on('data', (d) => (stderr += d));
      c.stdout.resume();
      const timer = setTimeout(() => c.kill('SIGKILL'), 20_000);
      c.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
    tc.diagnostic(r.stderr);
    assert.equal(r.code, 78);
    assert.match(r.stderr, new RegExp(`${f}:3: relay\\.main\\.password_file: ${pw} cannot be read by this user \\(permission denied\\)`));
  });
  it('password command that fails, and one that hangs (killed after its timeout)', async () => {
    const f = conf(
      '[relay.a]\nurl = "smtps://me@h.example.com"\npassword_command = "exit 7"\n\n[relay.b]\nurl = "smtps://me@h.example.com"\npassword_command = "sleep 60"\npassword_command_timeout = "1s"\n',
    );
    const r = await run(OUTBOX, ['config', 'check', '-C', f], { env });
    assert.equal(r.code, 78);
    assert.match(r.stderr, new RegExp(`${f}:3: relay\\.a\\.password_command: the command failed with exit status 7`));
    assert.match(r.stderr, new RegExp(`${f}:7: relay\\.b\\.password_command: the command did not finish within 1 s and was killed`));
    assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
  });
  it('OUTBOX_RELAY is read as delivery reads it (relay/env.ts): trimmed, first and the default; blank is no relay', async () => {
    const f = conf(`[relay.main]\nurl = "smtps://old.example.com"\n`);
    const r = await run(OUTBOX, ['config', 'check', '-C', f], { env: { ...env, OUTBOX_RELAY: '  smtps://new.example.com  ' } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.stdout.split('\n').filter((l) => l.startsWith('relay ')),
      ['relay env (OUTBOX_RELAY): smtps://new.example.com:465, no password', 'relay main: smtps://old.example.com:465, no password'],
    );
    assert.match(r.stdout, /^default relay: env$/m);
    // Blank: delivery has no environment relay then (the file's is the default, or there is none).
    const blank = await run(OUTBOX, ['config', 'check', '-C', f], { env: { ...env, OUTBOX_RELAY: '   ' } });
    assert.equal(blank.code, 0, blank.stderr);
    assert.match(blank.stdout, /^default relay: main$/m);
    const none = await run(OUTBOX, ['config', 'check', '-C', conf('')], { env: { ...env, OUTBOX_RELAY: '   ' } });
    assert.equal(none.code, 78, none.stdout + none.stderr);
    assert.match(none.stderr, /no relay: add a \[relay\.NAME\] table/);
    assert.doesNotMatch(none.stdout, /default relay/);
  });
  it('the shipped example validates (apart from its secrets)', async () => {
    const r = await run(OUTBOX, ['config', 'check', '--no-secrets', '-C', path.join(REPO, 'outbox.conf.example')], { env: { ...env } });
    // The example names /etc/aliases and files that may not exist here: only syntax matters.
    assert.ok(r.code === 0 || r.code === 78, r.stderr);
    assert.doesNotMatch(r.stderr, /syntax error|unknown key/);
    assert.match(r.stdout, /relay provider: smtp\+starttls:\/\/smtp\.provider\.example:587 as me@example\.com/);
  });
  it('counts [[route]] tables as written (not the rules their lists expand to), and says "1 entry"', async () => {
    const aliases = path.join(t.dir, 'aliases-one');
    fs.writeFileSync(aliases, 'root: admin@example.com\n');
    const example = fs.readFileSync(path.join(REPO, 'outbox.conf.example'), 'utf8');
    assert.equal(example.match(/^\[\[route\]\]$/gm)!.length, 3);
    const f = conf(example.replace(/^aliases = .*$/m, `aliases = "${aliases}"`));
    const r = await run(OUTBOX, ['config', 'check', '--no-secrets', '-C', f], { env: { ...env } });
    assert.match(r.stdout, /^routes: 3 \[\[route\]\] tables \(4 rules\)$/m, r.stdout);
    assert.match(r.stdout, /^aliases: .*, 1 entry$/m);
    assert.match(r.stdout, /^sender_table: 2 entries$/m);
  });
});

describe('outbox config migrate', () => {
  it('prints an outbox.conf that loads', async () => {
    const r = await run(OUTBOX, ['config', 'migrate', path.join(REPO, 'test/fixtures/config/msmtprc')], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\[relay\.gmail\]/);
    const f = conf(r.stdout);
    const c = await run(OUTBOX, ['config', 'check', '--no-secrets', '-C', f], { env });
    assert.doesNotMatch(c.stderr, /syntax error|unknown key/);
    const missing = await run(OUTBOX, ['config', 'migrate', path.join(t.dir, 'none')], { env });
    assert.equal(missing.code, 66);
  });
});
