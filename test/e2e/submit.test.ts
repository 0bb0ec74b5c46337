/**
 * End-to-end: the built `sendmail` as a subprocess, with real stdin, exit codes and spool.
 * Every row of ../shared/CALLERS.md is a test here, with the caller's exact argv.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run, SENDMAIL, MAILQ, controls, messageText, spoolsForFile } from '../helpers/run.js';

const spool = spoolsForFile(after);

/** Submit and return the one committed record and its stored text. */
async function submitOne(args: string[], input: string | Buffer, env: Record<string, string> = {}) {
  const s = spool();
  const r = await run(SENDMAIL, args, { input, env: { ...s.env, ...env } });
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stderr, '');
  const recs = controls(s.spool);
  assert.equal(recs.length, 1);
  return { rec: recs[0]!, text: messageText(s.spool, recs[0]!.id), spool: s };
}

const rcpts = (rec: Record<string, any>) => rec.recipients.map((r: { address: string }) => r.address);

test('PHP mail(): sendmail -t -i with CRLF headers, LF body, -f appended', async () => {
  const input = 'To: user@example.com\r\nSubject: Hello\r\nX-Mailer: PHP/8.2\r\nBcc: hidden@example.com\r\n\r\nline one\nline two\n';
  const { rec, text } = await submitOne(['-t', '-i', '-fbounce@example.com'], input);
  assert.deepEqual(rcpts(rec), ['user@example.com', 'hidden@example.com']);
  assert.equal(rec.sender, 'bounce@example.com');
  assert.ok(!text.includes('\r'), 'CRLF normalised');
  assert.ok(!/^Bcc:/im.test(text), 'Bcc stripped');
  assert.match(text, /^Received: by \S+ \(Outbox, from userid 0\)\n\tid [0-9A-Z]{12}; /);
  assert.match(text, /^Date: /m);
  assert.match(text, /^Message-ID: <[^>]+>$/m);
  assert.match(text, /^From: .*<bounce@example\.com>$/m);
  assert.ok(text.endsWith('\n\nline one\nline two\n'));
});

test('PHP mail() with "-f bounce@example.com" as a separate argument', async () => {
  const { rec } = await submitOne(['-t', '-i', '-f', 'bounce@example.com'], 'To: a@example.com\r\n\r\nx\r\n');
  assert.equal(rec.sender, 'bounce@example.com');
});

test("bounce generators: -f '' gives the null sender, like -f '<>' (not the default sender)", async () => {
  for (const f of ['', '<>']) {
    const { rec } = await submitOne(['-odq', '-f', f, 'n1@example.com'], 'Subject: x\n\nbody\n');
    assert.equal(rec.sender, '', `-f '${f}'`);
  }
});

test('Symfony -t mode without -i: dot-stuffed lines are unstuffed, rcpts after -- are added', async () => {
  const input = 'To: a@example.com\r\nSubject: s\r\n\r\n..leading dot\r\nplain\r\n';
  const { rec, text } = await submitOne(['-t', '-fapp@example.com', '--', 'b@example.com'], input);
  assert.deepEqual(rcpts(rec).sort(), ['a@example.com', 'b@example.com']);
  assert.ok(text.endsWith('\n\n.leading dot\nplain\n'));
});

test('Debian cron: -FCronDaemon -i -B8BITMIME -oem root, 8-bit body, bare name qualified', async () => {
  const input = Buffer.from('Subject: Cron <root@host> run-parts\nAuto-Submitted: auto-generated\n\nr\u00e9sultat \u2713\n', 'utf8');
  const { rec, text } = await submitOne(['-FCronDaemon', '-i', '-B8BITMIME', '-oem', 'root'], input);
  const domain = rcpts(rec)[0].split('@')[1];
  assert.ok(domain && domain.length > 0);
  assert.equal(rec.body, '8BITMIME');
  assert.match(text, /^From: CronDaemon <root@/m);
  assert.ok(Buffer.from(text, 'latin1').includes(Buffer.from('r\u00e9sultat \u2713', 'utf8')), '8-bit bytes kept');
});

test('cronie: -FCronDaemon -i -odi -oem -oi -t -f root -- with -odq overriding delivery', async () => {
  const { rec } = await submitOne(['-FCronDaemon', '-i', '-odq', '-oem', '-oi', '-t', '-f', 'root'], 'To: root\nSubject: cron\n\nout\n');
  assert.match(rec.sender, /^root@/);
  assert.match(rcpts(rec)[0], /^root@/);
});

test('bsd-mailx: sendmail -i -t -f from', async () => {
  const { rec } = await submitOne(['-i', '-t', '-f', 'smartd@example.com'], 'To: admin@example.com\nSubject: SMART error\n\nbad sector\n');
  assert.deepEqual(rcpts(rec), ['admin@example.com']);
});

test('s-nail: -i -f from -- rcpt1 rcpt2, and no From: header: we add one', async () => {
  const { rec, text } = await submitOne(['-i', '-f', 'me@example.com', '--', 'a@example.com', 'b@example.com'], 'Subject: no from\n\nbody\n');
  assert.deepEqual(rcpts(rec), ['a@example.com', 'b@example.com']);
  assert.match(text, /^From: .*me@example\.com/m);
});

test('mutt: Bcc recipients on argv, the Bcc header never leaks; DSN options kept', async () => {
  const input = 'From: me@example.com\nTo: to@example.com\nCc: cc@example.com\nBcc: secret@example.com\nSubject: s\n\nbody\n';
  const { rec, text } = await submitOne(
    ['-oem', '-oi', '-B8BITMIME', '-f', 'me@example.com', '-N', 'failure,delay', '-R', 'hdrs', '--', 'to@example.com', 'cc@example.com', 'secret@example.com'],
    input,
  );
  assert.deepEqual(rcpts(rec), ['to@example.com', 'cc@example.com', 'secret@example.com']);
  assert.ok(!text.includes('secret@example.com'));
  assert.equal(rec.ret, 'HDRS');
  assert.deepEqual(rec.recipients[0].notify, ['FAILURE', 'DELAY']);
});

test('git send-email: -f envelope -i rcpts', async () => {
  const { rec } = await submitOne(
    ['-f', 'dev@example.com', '-i', 'list@example.org', 'maint@example.org'],
    'From: dev@example.com\nSubject: [PATCH] x\n\ndiff\n',
  );
  assert.deepEqual(rcpts(rec), ['list@example.org', 'maint@example.org']);
});

test('logwatch / mdadm: -t without -i, a lone "." log line does not truncate the report', async () => {
  const input = 'To: root\nSubject: Logwatch\n\nline 1\n.\nline 3\n';
  const { text } = await submitOne(['-t'], input);
  assert.ok(text.endsWith('\n\nline 1\n.\nline 3\n'), text);
});

test('-t without -i: a final lone "." ends the message and is not stored', async () => {
  const { text } = await submitOne(['-t'], 'To: root\nSubject: s\n\nbody\n.\n');
  assert.ok(text.endsWith('\n\nbody\n'));
});

test('fail2ban: -f "sender" "a, b" (a list in one argument)', async () => {
  const { rec } = await submitOne(['-f', 'fail2ban@example.com', 'a@example.com, B Admin <b@example.com>'], 'Subject: banned\n\n1.2.3.4\n');
  assert.deepEqual(rcpts(rec), ['a@example.com', 'b@example.com']);
});

test('unattended-upgrades: -oi -t', async () => {
  const { rec } = await submitOne(['-oi', '-t'], 'To: root@example.com\nSubject: upgrades\n\nok\n');
  assert.deepEqual(rcpts(rec), ['root@example.com']);
});

test('Nodemailer sendmail transport: -i -f from rcpt, Bcc header stripped even without -t', async () => {
  const { rec, text } = await submitOne(
    ['-i', '-f', 'app@example.com', 'to@example.com'],
    'From: app@example.com\nTo: to@example.com\nBcc: b@example.com\nSubject: s\n\nhi\n',
  );
  assert.deepEqual(rcpts(rec), ['to@example.com']);
  assert.ok(!text.includes('b@example.com'));
});

test('-t takes the union with argv recipients, each once', async () => {
  const { rec } = await submitOne(['-t', '-i', 'a@example.com', 'c@example.com'], 'To: a@example.com, b@example.com\n\nx\n');
  assert.deepEqual(rcpts(rec), ['a@example.com', 'c@example.com', 'b@example.com']);
});

test('input without headers is all body; a UTF-8 -F name is RFC 2047-encoded; mbox From_ line removed', async () => {
  const { text } = await submitOne(['-i', '-F', 'Zoë Ω', 'a@example.com'], 'From someone Mon Jan  1 00:00:00 2024\nhello there\n');
  assert.match(text, /^From: =\?UTF-8\?B\?[^?]+\?= <root@[^>]+>$/m);
  assert.ok(text.endsWith('\n\nhello there\n'));
  assert.ok(!text.includes('From someone'));
});

test('a very long line (2 MB) and a message without a final newline are accepted', async () => {
  const long = 'x'.repeat(2 * 1024 * 1024);
  const { text, rec } = await submitOne(['-i', 'a@example.com'], `Subject: long\n\n${long}`);
  assert.ok(text.endsWith(`\n\n${long}\n`));
  assert.equal(rec.size, Buffer.byteLength(text, 'latin1'));
});

// Exit status table: each row.
async function expectExit(args: string[], input: string | Buffer, code: number, stderr: RegExp, env: Record<string, string> = {}) {
  const s = spool();
  const r = await run(SENDMAIL, args, { input, env: { ...s.env, ...env } });
  assert.equal(r.code, code, `stderr: ${r.stderr}`);
  assert.match(r.stderr, stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one line on stderr');
  assert.equal(r.stdout, '');
  assert.equal(controls(s.spool).length, 0, 'nothing committed');
  return s;
}

test('64: unknown flag, missing value, no recipients, injection attempts', async () => {
  await expectExit(['-Z', 'a@example.com'], 'x\n', 64, /^sendmail: -Z: unknown option$/m);
  await expectExit(['-f'], 'x\n', 64, /requires a value/);
  await expectExit(['-i'], 'Subject: x\n\nx\n', 64, /no recipients given/);
  // -t that finds no recipients: EX_USAGE, as Postfix's sendmail ("No recipient addresses found
  // in message header"), with or without -i, with no header section at all.
  await expectExit(['-t', '-i'], 'Subject: nobody\n\nx\n', 64, /no recipient addresses found in the message header/);
  await expectExit(['-t'], 'Subject: nobody\nCc:\n\nx\n', 64, /no recipient addresses found/);
  await expectExit(['-t', '-i'], 'just a body\n', 64, /no recipient addresses found/);
  await expectExit(['-f', 'a@x.org\nBcc: v@y.org', 'r@example.com'], 'x\n', 64, /line break/);
  await expectExit(['--', '-oQ/tmp/evil'], 'x\n', 64, /may not start with '-'/);
});

test('64 for no recipients does not wait for stdin', async () => {
  const s = spool();
  const { spawn } = await import('node:child_process');
  const child = spawn(SENDMAIL, ['-i'], { env: { ...s.env, PATH: process.env.PATH }, stdio: ['pipe', 'ignore', 'ignore'] });
  const code = await new Promise<number | null>((resolve) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(null);
    }, 5000);
    child.on('close', (c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
  assert.equal(code, 64);
});

test('65: NUL byte, malformed header section, bad address', async () => {
  await expectExit(['-i', 'a@example.com'], Buffer.from('Subject: x\n\nnul\0here\n'), 65, /NUL byte/);
  await expectExit(['-i', 'a@example.com'], 'Subject: x\nnot a header line\n\nbody\n', 65, /line 2 of the header section/);
  await expectExit(['-i', 'a@@example.com'], 'x\n', 65, /recipient/);
  await expectExit(['-t', '-i'], 'To: bad address@@x\n\nx\n', 65, /recipient in header/);
  // Header injection through a bare CR (it would become a line break on the wire).
  await expectExit(['-i', 'a@example.com'], 'Subject: hi\rBcc: victim@example.org\n\nx\n', 65, /bare CR/);
});

test('65: message over max_message_size', async () => {
  const s = spool();
  const conf = path.join(s.dir, 'outbox.conf');
  fs.writeFileSync(conf, `spool = "${s.spool}"\nmax_message_size = 1000\n`);
  const r = await run(SENDMAIL, ['-C', conf, '-i', 'a@example.com'], { input: 'Subject: big\n\n' + 'y'.repeat(5000) + '\n' });
  assert.equal(r.code, 65, r.stderr);
  assert.match(r.stderr, /larger than the limit/);
  assert.equal(controls(s.spool).length, 0);
  assert.deepEqual(fs.readdirSync(path.join(s.spool, 'msg')), [], 'partial message removed');
});

test('73: spool not writable by the submitting user', async () => {
  const s = spool();
  fs.mkdirSync(s.spool, { recursive: true, mode: 0o755 });
  fs.chmodSync(s.dir, 0o755);
  const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', SENDMAIL, '-i', 'a@example.com'], { input: 'x\n', env: s.env });
  assert.equal(r.code, 73, r.stderr);
  assert.match(r.stderr, /permission denied|EACCES/i);
});

test('75: disk full (a 64 KiB tmpfs) leaves nothing half-committed', async () => {
  const s = spool();
  fs.mkdirSync(s.spool, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', s.spool]).then((r) => assert.equal(r.code, 0, `mount: ${r.stderr}`));
  try {
    const r = await run(SENDMAIL, ['-i', 'a@example.com'], { input: 'Subject: big\n\n' + 'z'.repeat(300_000) + '\n', env: s.env });
    assert.equal(r.code, 75, r.stderr);
    assert.match(r.stderr, /ENOSPC|no space/i);
    assert.equal(controls(s.spool).length, 0);
    assert.deepEqual(fs.readdirSync(path.join(s.spool, 'msg')), []);
    // The same spool still takes a small message afterwards.
    const ok = await run(SENDMAIL, ['-i', 'a@example.com'], { input: 'Subject: small\n\nok\n', env: s.env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(controls(s.spool).length, 1);
  } finally {
    await run('umount', [s.spool]);
  }
});

test('75: file size limit (ulimit -f) is EFBIG, not a SIGXFSZ death', async () => {
  const s = spool();
  const r = await run('prlimit', ['--fsize=20000', SENDMAIL, '-i', 'a@example.com'], { input: 'Subject: big\n\n' + 'q'.repeat(100_000) + '\n', env: s.env });
  assert.equal(r.signal, null);
  assert.equal(r.code, 75, r.stderr);
  assert.equal(controls(s.spool).length, 0);
});

test('78: -C names a missing file; a bad config file names file, line and key', async () => {
  const s = spool();
  let r = await run(SENDMAIL, ['-C', path.join(s.dir, 'missing.conf'), '-i', 'a@example.com'], { input: 'x\n' });
  assert.equal(r.code, 78);
  assert.match(r.stderr, /missing\.conf: configuration file not found/);
  const conf = path.join(s.dir, 'bad.conf');
  fs.writeFileSync(conf, `# comment\nspool = "${s.spool}"\ndomian = "example.com"\n`);
  r = await run(SENDMAIL, ['-C', conf, '-i', 'a@example.com'], { input: 'x\n' });
  assert.equal(r.code, 78);
  assert.match(r.stderr, /bad\.conf:3: domian: unknown key \(did you mean "domain"\?\)/);
  r = await run(SENDMAIL, ['-i', 'a@example.com'], { input: 'x\n', env: { OUTBOX_CONFIG: conf } });
  assert.equal(r.code, 78);
});

test('a non-root user without a system config gets a per-user spool under ~/.local/state', async () => {
  const s = spool();
  fs.chmodSync(s.dir, 0o777);
  const home = path.join(s.dir, 'home');
  fs.mkdirSync(home, { mode: 0o755 });
  fs.chownSync(home, 65534, 65534);
  const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', SENDMAIL, '-i', 'a@example.com'], {
    input: 'Subject: mine\n\nx\n',
    env: { HOME: home },
  });
  assert.equal(r.code, 0, r.stderr);
  const userSpool = path.join(home, '.local/state/outbox');
  const recs = controls(userSpool);
  assert.equal(recs.length, 1);
  assert.equal(recs[0]!.uid, 65534);
  assert.equal(recs[0]!.user, 'nobody');
  assert.equal(fs.statSync(userSpool).mode & 0o777, 0o700);
  const q = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', MAILQ], { env: { HOME: home } });
  assert.equal(q.code, 0);
  assert.match(q.stdout, new RegExp(`^${recs[0]!.id} `, 'm'));
});
