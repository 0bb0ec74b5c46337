/**
 * End to end: the sender identity on a host whose name has no dot (issue 10 §1, "done means").
 *
 * Every command runs in its own UTS and mount namespace (root is required, as for the other
 * namespace tests): the host name is `vm2`, and /etc is an overlay in which /etc/mailname is
 * absent (or set, for the /etc/mailname case) and /etc/hosts names no FQDN, so nothing here
 * depends on the machine's own name or files. Settings come from the environment only
 * (OUTBOX_RELAY, OUTBOX_RELAY_PASSWORD_FILE, OUTBOX_RELAY_CA, OUTBOX_DOMAIN), and the mail goes
 * through the real Postfix smarthost, which refuses senders and recipients that are not fully
 * qualified (reject_non_fqdn_sender, as most smarthosts do). Callers: PHP mail() with a Bcc,
 * Debian cron's exact argv, s-nail (mailx) with a Bcc, git send-email with a Bcc.
 * Then the login-address rule against a scripted relay that accepts only its login as sender.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { smarthostEnv, usePostfixSmarthost } from '../helpers/postfix.js';
import { startRelay } from '../helpers/relay.js';
import { MAILQ, OUTBOX, SENDMAIL, controls, run, sleep, tempSpool, type RunOptions, type RunResult } from '../helpers/run.js';

const HOST = 'vm2';

/**
 * Run cmd with host name vm2 and an /etc overlay: `etc` files replace /etc's (null: the file is
 * absent, an overlay whiteout). The overlay's upper layer lives on a tmpfs mounted inside the
 * namespace (an upper layer may not itself be on overlayfs, as /tmp is in many containers).
 * Everything the command starts (background deliveries) shares the host name and /etc.
 */
function inHost(dir: string, etc: Record<string, string | null>, cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const base = fs.mkdtempSync(path.join(dir, 'etc-'));
  const files = path.join(base, 'files');
  const mnt = path.join(base, 'mnt');
  fs.mkdirSync(files);
  fs.mkdirSync(mnt);
  const whiteouts: string[] = [];
  for (const [name, text] of Object.entries(etc)) {
    if (text === null) whiteouts.push(name);
    else fs.writeFileSync(path.join(files, name), text);
  }
  const script = [
    `hostname ${HOST}`,
    `mount -t tmpfs tmpfs ${mnt}`,
    `mkdir ${mnt}/upper ${mnt}/work`,
    `cp -a ${files}/. ${mnt}/upper/`,
    ...whiteouts.map((n) => `mknod ${mnt}/upper/${n} c 0 0`),
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${mnt}/upper,workdir=${mnt}/work /etc`,
    'exec "$@"',
  ].join(' && ');
  return run('unshare', ['--uts', '--mount', '--', '/bin/sh', '-c', script, 'sh', cmd, ...args], opts);
}

/** /etc as on a host named vm2 with no domain anywhere. */
const NO_DOMAIN = { mailname: null, hosts: '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' };

/** Delivered Maildir files holding `token`, waiting (bounded) until there are `count`. */
async function delivered(maildir: string, token: string, count: number, timeoutMs = 60_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hits: string[] = [];
    for (const sub of ['new', 'cur']) {
      let names: string[] = [];
      try {
        names = fs.readdirSync(path.join(maildir, sub));
      } catch {
        // not there yet
      }
      for (const n of names) {
        const f = path.join(maildir, sub, n);
        try {
          const text = fs.readFileSync(f, 'latin1');
          if (text.includes(token)) hits.push(text);
        } catch {
          // moved meanwhile
        }
      }
    }
    if (hits.length >= count || Date.now() > deadline) return hits;
    await sleep(200);
  }
}

/** The envelope recipient Postfix recorded, and the envelope sender. */
const originalTo = (text: string) => /^X-Original-To: (.*)$/m.exec(text)?.[1];
// (From: lines allow a display name: submission adds the user's GECOS name from /etc/passwd.)
const returnPath = (text: string) => /^Return-Path: <(.*)>$/m.exec(text)?.[1];

{
  const { sh, stop } = await usePostfixSmarthost();
  after(stop);

  describe('a host named without a dot, configured from the environment only, through a real Postfix smarthost', () => {
    const t = tempSpool('outbox-identity-');
    after(() => t.cleanup());
    const relayEnv = { ...t.env, HOME: t.dir, ...smarthostEnv(sh, t.dir) };
    const env = { ...relayEnv, OUTBOX_DOMAIN: 'harness.test' };

    it('without a domain, config check and -bv name the bare host name and WARN with the fix', async () => {
      const c = await inHost(t.dir, NO_DOMAIN, OUTBOX, ['config', 'check'], { env: relayEnv });
      assert.equal(c.code, 0, c.stderr);
      assert.match(c.stdout, /^domain vm2 \(from the bare host name\)$/m);
      assert.match(c.stdout, /^ {2}WARN domain "vm2" \(from the bare host name\) has no dot .*fix: set OUTBOX_DOMAIN=example\.com/m);
      const v = await inHost(t.dir, NO_DOMAIN, SENDMAIL, ['-bv', 'root'], { env: relayEnv });
      assert.match(v.stdout, /^root@vm2\.\.\. deliverable/m);
      assert.match(v.stdout, /WARN domain "vm2"/);
      const chk = await inHost(t.dir, NO_DOMAIN, OUTBOX, ['check', '--ports', String(sh.port)], { env: relayEnv, timeoutMs: 60_000 });
      assert.equal(chk.code, 0, chk.stdout + chk.stderr);
      assert.match(chk.stdout, /^domain vm2 \(from the bare host name\)\n {2}WARN domain "vm2" .*fix: set OUTBOX_DOMAIN=/m);
      const ok = await inHost(t.dir, NO_DOMAIN, OUTBOX, ['config', 'check'], { env });
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /^domain harness\.test \(from OUTBOX_DOMAIN\)$/m);
      assert.doesNotMatch(ok.stdout, /WARN/);
    });

    it('PHP mail() with Bcc, cron, s-nail and git send-email all arrive with a qualified sender; Bcc never leaks', async () => {
      const token = `id-${randomBytes(6).toString('hex')}`;
      // PHP mail(): sendmail_path's default is "sendmail -t -i"; PHP writes CRLF headers.
      const script = path.join(t.dir, 'mail.php');
      fs.writeFileSync(
        script,
        `<?php
$ok = mail('php-${token}@example.com', 'php ${token}', "Hello from PHP ${token}.\\n", "Bcc: phpbcc-${token}@example.com\\r\\nX-Token: ${token}");
echo $ok ? "true" : "false";`,
      );
      const php = await inHost(t.dir, NO_DOMAIN, 'php', ['-d', `sendmail_path=${SENDMAIL} -t -i`, script], { env });
      assert.equal(php.stdout, 'true', php.stderr);

      // Debian cron: /usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem <MAILTO>, MAILTO a bare local name.
      const cronMail = `From: root (Cron Daemon)\nTo: cron-${token}\nSubject: Cron <root@${HOST}> date\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\ncron ${token} gr\xfc\xdfe\n`;
      const cron = await inHost(t.dir, NO_DOMAIN, SENDMAIL, ['-FCronDaemon', '-i', '-B8BITMIME', '-oem', `cron-${token}`], {
        env,
        input: Buffer.from(cronMail, 'latin1'),
      });
      assert.equal(cron.code, 0, cron.stderr);

      // s-nail (mailx): sendmail -i -- rcpt... with the Bcc on argv and no From: header.
      const mailx = await inHost(
        t.dir,
        NO_DOMAIN,
        's-nail',
        ['-:/', `-Smta=${SENDMAIL}`, '-s', `mailx ${token}`, '-b', `mailxbcc-${token}@example.com`, `mailx-${token}@example.com`],
        { env, input: `mailx ${token}\n` },
      );
      assert.equal(mailx.code, 0, mailx.stderr);

      // git send-email: sendmail -i rcpt... (Bcc on argv), From: the author.
      const repo = path.join(t.dir, 'repo');
      const gitEnv = {
        ...env,
        GIT_AUTHOR_NAME: 'Dev',
        GIT_AUTHOR_EMAIL: 'dev@harness.test',
        GIT_COMMITTER_NAME: 'Dev',
        GIT_COMMITTER_EMAIL: 'dev@harness.test',
      };
      const git = (args: string[], cwd = repo) =>
        execFileSync('git', args, { cwd, env: { PATH: process.env.PATH, ...gitEnv }, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      fs.mkdirSync(repo);
      git(['init', '-q']);
      fs.writeFileSync(path.join(repo, 'f'), `${token}\n`);
      git(['add', 'f']);
      git(['commit', '-qm', `change ${token}`]);
      const patch = git(['format-patch', '-1', '-o', path.join(t.dir, 'patches')]).trim();
      const gse = await inHost(
        t.dir,
        NO_DOMAIN,
        'git',
        [
          'send-email',
          `--sendmail-cmd=${SENDMAIL}`,
          `--to=git-${token}@example.com`,
          `--bcc=gitbcc-${token}@example.com`,
          '--confirm=never',
          '--suppress-cc=all',
          '--from=Dev <dev@harness.test>',
          patch,
        ],
        { env: gitEnv, cwd: repo, timeoutMs: 60_000 },
      );
      assert.equal(gse.code, 0, gse.stdout + gse.stderr);

      // Whatever the background deliveries did, one queue run in the same host sends the rest.
      const q = await inHost(t.dir, NO_DOMAIN, SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
      assert.equal(q.code, 0, q.stderr);
      const mails = await delivered(sh.maildir, token, 7);
      const byRcpt = new Map(mails.map((m) => [originalTo(m), m]));
      const want = ['php', 'phpbcc', 'mailx', 'mailxbcc', 'git', 'gitbcc'].map((p) => `${p}-${token}@example.com`).concat(`cron-${token}@harness.test`);
      assert.deepEqual([...byRcpt.keys()].sort(), want.sort(), (await run(MAILQ, [], { env })).stdout);
      for (const [rcpt, text] of byRcpt) {
        assert.doesNotMatch(text, /^Bcc:/im, `no Bcc: header reaches ${rcpt}`);
        assert.match(text, new RegExp(`^Received: by ${HOST} \\(Outbox`, 'm'), 'submitted on the host named vm2');
        assert.equal(returnPath(text), 'root@harness.test', `envelope sender of ${rcpt}`);
      }
      assert.match(byRcpt.get(`php-${token}@example.com`)!, /^From: (?:[^<\n]*<)?root@harness\.test>?$/m);
      assert.match(byRcpt.get(`cron-${token}@harness.test`)!, /^From: root@harness\.test \(Cron Daemon\)$/m);
      assert.match(byRcpt.get(`mailx-${token}@example.com`)!, /^From: (?:[^<\n]*<)?root@harness\.test>?$/m);
      assert.match(byRcpt.get(`git-${token}@example.com`)!, /^From: Dev <dev@harness\.test>$/m);
      assert.equal(controls(t.spool).length, 0, 'nothing left in the queue');
    });

    it('/etc/mailname gives the domain when OUTBOX_DOMAIN is not set', async () => {
      const token = `mn-${randomBytes(6).toString('hex')}`;
      const etc = { ...NO_DOMAIN, mailname: 'mailname.test\n' };
      const c = await inHost(t.dir, etc, OUTBOX, ['config', 'check'], { env: relayEnv });
      assert.match(c.stdout, /^domain mailname\.test \(from \/etc\/mailname\)$/m);
      assert.doesNotMatch(c.stdout, /WARN/);
      const s = await inHost(t.dir, etc, SENDMAIL, ['-FCronDaemon', '-i', '-B8BITMIME', '-oem', `cron-${token}`], {
        env: relayEnv,
        input: `Subject: ${token}\n\n${token}\n`,
      });
      assert.equal(s.code, 0, s.stderr);
      assert.equal((await inHost(t.dir, etc, SENDMAIL, ['-q'], { env: relayEnv, timeoutMs: 60_000 })).code, 0);
      const [m] = await delivered(sh.maildir, token, 1);
      assert.ok(m, 'delivered');
      assert.equal(originalTo(m), `cron-${token}@mailname.test`);
      assert.equal(returnPath(m), 'root@mailname.test');
    });
  });
}

describe('a relay whose login is an email address accepts only that sender', () => {
  it('local senders go out as the login (envelope and From:), the original kept in Reply-To:; others unchanged', async () => {
    const login = 'me@gmail.example';
    const relay = await startRelay({ users: { [login]: 'secret' }, faults: { onlySender: { address: login } } });
    const t = tempSpool('outbox-login-');
    try {
      const pw = path.join(t.dir, 'password');
      fs.writeFileSync(pw, 'secret\n', { mode: 0o600 });
      const env = {
        ...t.env,
        HOME: t.dir,
        OUTBOX_RELAY: relay.url(login),
        OUTBOX_RELAY_PASSWORD_FILE: pw,
        OUTBOX_RELAY_CA: relay.caFile,
        OUTBOX_LOG: 'stderr',
      };
      // Only OUTBOX_RELAY and its password: cron's argv, the sender the default (a local user).
      const cron = await run(SENDMAIL, ['-FCronDaemon', '-i', '-B8BITMIME', '-oem', '-odq', 'admin@example.net'], {
        env,
        input: 'From: root (Cron Daemon)\nSubject: cron\n\nhello\n',
      });
      assert.equal(cron.code, 0, cron.stderr);
      // A message that already has a Reply-To: keeps it.
      const own = await run(SENDMAIL, ['-i', '-odq', 'admin@example.net'], { env, input: 'Reply-To: desk@example.net\nSubject: own\n\nhello\n' });
      assert.equal(own.code, 0, own.stderr);
      const q = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
      assert.equal(q.code, 0, q.stderr);
      assert.equal(relay.received.length, 2, q.stderr);
      for (const m of relay.received) assert.equal(m.mailFrom, login);
      // Two connections may deliver them in either order: find each by its subject.
      const bySubject = (subject: string) =>
        relay.received.map((m) => m.data.toString('latin1')).find((d) => new RegExp(`^Subject: ${subject}\r?$`, 'm').test(d));
      const [a, b] = [bySubject('cron'), bySubject('own')];
      assert.match(a!, /^From: me@gmail\.example \(Cron Daemon\)\r?$/m);
      assert.match(a!, /^Reply-To: root(@\S+)? \(Cron Daemon\)\r?$/m);
      assert.match(b!, /^From: (?:[^<\n]*<)?me@gmail\.example>?\r?$/m);
      assert.match(b!, /^Reply-To: desk@example\.net\r?$/m);
      assert.equal((b!.match(/^Reply-To:/gim) ?? []).length, 1);
      assert.match(q.stderr, /rewritten for relay env: login address \(relay env\): envelope sender \S+ -> me@gmail\.example/);

      // A sender of another domain (an application's -f) is left alone: the relay refuses it,
      // and the switch OUTBOX_RELAY_LOGIN_SENDER=no turns the rule off.
      const app = await run(SENDMAIL, ['-i', '-odq', '-f', 'bounce@shop.example', 'admin@example.net'], {
        env,
        input: 'From: shop@shop.example\nSubject: app\n\nhello\n',
      });
      assert.equal(app.code, 0, app.stderr);
      const off = await run(SENDMAIL, ['-i', '-odq', 'admin@example.net'], {
        env: { ...env, OUTBOX_RELAY_LOGIN_SENDER: 'no' },
        input: 'Subject: off\n\nhello\n',
      });
      assert.equal(off.code, 0, off.stderr);
      const q2 = await run(SENDMAIL, ['-q'], { env: { ...env, OUTBOX_RELAY_LOGIN_SENDER: 'no' }, timeoutMs: 60_000 });
      assert.equal(q2.code, 0, q2.stderr);
      assert.equal(relay.received.length, 2, 'neither was accepted');
      assert.match(q2.stderr, /from=<bounce@shop\.example>/);
      assert.doesNotMatch(q2.stderr, /status=sent|rewritten/);

      // outbox check and config check say what happens to local senders.
      const cc = await run(OUTBOX, ['config', 'check'], { env });
      assert.match(cc.stdout, /local senders go out as me@gmail\.example \(login-address rule\)/);
    } finally {
      await relay.close();
      t.cleanup();
    }
  });
});

describe('root checks secrets as the user that delivers mail (the spool owner)', () => {
  it('root:OWNERGROUP 0640 is fit; root:root 0600 and 0640 are refused with a fix that keeps the owner able to read', async () => {
    const relay = await startRelay();
    const t = tempSpool('outbox-asowner-');
    try {
      // A system spool owned by an unprivileged user (a uid with no passwd entry: nothing to create).
      const owner = 4242;
      fs.mkdirSync(t.spool, { mode: 0o700 });
      fs.chownSync(t.spool, owner, owner);
      const pw = path.join(t.dir, 'relay.password');
      fs.writeFileSync(pw, 'secret\n');
      const env = { ...t.env, HOME: t.dir, OUTBOX_RELAY: relay.url(), OUTBOX_RELAY_PASSWORD_FILE: pw, OUTBOX_RELAY_CA: relay.caFile };
      const set = (gid: number, mode: number) => {
        fs.chownSync(pw, 0, gid);
        fs.chmodSync(pw, mode);
      };
      set(owner, 0o640);
      const ok = await run(OUTBOX, ['config', 'check'], { env });
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /secrets judged as the user that delivers mail: uid 4242, group 4242 \(the spool's owner\)/);
      const chk = await run(OUTBOX, ['check', '--ports', String(relay.port)], { env, timeoutMs: 60_000 });
      assert.equal(chk.code, 0, chk.stdout + chk.stderr);
      assert.match(chk.stdout, /ok {3}AUTH PLAIN: accepted/);
      assert.match(chk.stdout, /^domain \S+ \(from [^)]+\)$/m, 'outbox check says which domain senders get');
      set(0, 0o600);
      const priv = await run(OUTBOX, ['config', 'check'], { env });
      assert.equal(priv.code, 78);
      assert.match(
        priv.stderr,
        new RegExp(`${pw} cannot be read by the user that delivers mail \\(uid 4242, the spool's owner\\); fix with: chgrp 4242 ${pw} && chmod 640 ${pw}`),
      );
      set(0, 0o640);
      const grp = await run(OUTBOX, ['config', 'check'], { env });
      assert.equal(grp.code, 78);
      assert.match(grp.stderr, /cannot be read by the user that delivers mail/);
      set(owner, 0o644);
      const others = await run(OUTBOX, ['config', 'check'], { env });
      assert.equal(others.code, 78);
      assert.match(others.stderr, new RegExp(`refusing ${pw}: it is readable or writable by others \\(mode 0644\\); fix with: chmod 640 ${pw}`));
    } finally {
      await relay.close();
      t.cleanup();
    }
  });
});
