/**
 * Stuck mail, end to end with the built binary (issue 10 §2/§3, issue 15 items 4, 5, 6, 10):
 *   - through the real Postfix smarthost (reject_non_fqdn_sender, as most real smarthosts), a
 *     sender the relay refuses is held, never bounced; mailq and `outbox check --queue` say why;
 *     after the fix (`domain` in the configuration file) one `sendmail -q` delivers every held
 *     message exactly once, and the check is OK again;
 *   - `outbox check --queue` WARNING for an old deferred message;
 *   - the daemon takes its scan interval from [delivery] scan_interval, notices a changed
 *     configuration file, rereads it on SIGHUP, and then holds what a new hold route holds;
 *     mailq, queue show and `outbox deliver -v` say "held by route N (file:line)";
 *   - `sendmail -bv` with no relay configured is not "deliverable".
 * The host name is set in the configuration ("vm", no dot): the machine's own does not matter.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { usePostfixSmarthost, waitForMaildir } from '../helpers/postfix.js';
import { startRelay } from '../helpers/relay.js';
import { relayAndSpool } from '../helpers/relay-spool.js';
import { MAILQ, OUTBOX, SENDMAIL, controls, run, sleep, start, tempSpool } from '../helpers/run.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Maildir files holding `token` (bounded wait for at least `count`). */
/** A scripted relay and a temporary spool with its password file, removed after the file's tests. */
function holdsSetup(opts: Parameters<typeof startRelay>[0] = {}) {
  return relayAndSpool((c) => cleanups.push(c), 'outbox-holds-', opts);
}

async function mailWith(maildir: string, token: string, count: number, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hits = (await waitForMaildir(maildir, 0, 0)).filter((f) => {
      try {
        return fs.readFileSync(f, 'latin1').includes(token);
      } catch {
        return false;
      }
    });
    if (hits.length >= count || Date.now() > deadline) return hits;
    await sleep(100);
  }
}

{
  const { sh, stop } = await usePostfixSmarthost();
  after(stop);
  /**
   * A spool whose configuration has the broken state, whatever this machine's /etc/mailname or
   * FQDN: a domain without a dot (`vm`); the relay is the Postfix smarthost.
   */
  const brokenDomain = (prefix: string) => {
    const t = tempSpool(prefix);
    cleanups.push(() => t.cleanup());
    const pw = path.join(t.dir, 'password');
    fs.writeFileSync(pw, `${sh.password}\n`, { mode: 0o600 });
    const conf = path.join(t.dir, 'outbox.conf');
    const aliases = path.join(t.dir, 'aliases');
    fs.writeFileSync(aliases, '');
    fs.writeFileSync(conf, `hostname = "vm"\ndomain = "vm"\naliases = "${aliases}"\n`);
    const env = {
      ...t.env,
      OUTBOX_CONFIG: conf,
      OUTBOX_RELAY: `smtp+starttls://${encodeURIComponent(sh.user)}@localhost:${sh.port}`,
      OUTBOX_RELAY_PASSWORD_FILE: pw,
      OUTBOX_RELAY_CA: sh.ca,
      OUTBOX_LOG: 'stderr',
    };
    return { t, conf, aliases, env };
  };
  describe('a sender refused by a real Postfix smarthost', () => {
    it('is held, never bounced; mailq and check --queue explain; after the fix one queue run delivers each once', async () => {
      const { t, conf, aliases, env } = brokenDomain('outbox-holds-');
      const token = `held-${randomBytes(6).toString('hex')}`;
      const N = 3;
      for (let i = 0; i < N; i++) {
        const r = await run(SENDMAIL, ['-odq', '-f', 'outboxtest', `rcpt${i}@example.com`], { env, input: `Subject: ${token} ${i}\n\n${token} #${i}\n` });
        assert.equal(r.code, 0, r.stderr);
      }
      assert.ok(controls(t.spool).every((c) => c.sender === 'outboxtest@vm'));

      const q1 = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
      assert.equal(q1.code, 0, q1.stderr);
      assert.match(q1.stderr, /said: 504 5\.5\.2 <outboxtest@vm>: Sender address rejected: need fully-qualified address/);
      const notices = q1.stderr.split('\n').filter((l) => /configuration problem/.test(l));
      assert.equal(notices.length, 1, `one notice, not one per message:\n${q1.stderr}`);
      assert.match(notices[0]!, /relay env refuses the sender <outboxtest@vm>: set domain \(or OUTBOX_DOMAIN\)/);
      const held = controls(t.spool);
      assert.equal(held.length, N, 'no bounce was queued');
      assert.ok(held.every((c) => c.sender === 'outboxtest@vm' && !c.hold));

      const mq = await run(MAILQ, [], { env });
      assert.equal(mq.code, 0);
      assert.match(
        mq.stdout,
        new RegExp(
          `\\nProblems:\\n  ${N} held: relay env refuses the sender <outboxtest@vm>: set domain \\(or OUTBOX_DOMAIN\\)\\n\\n-- \\d+ Kbytes in ${N} Requests\\.\\n$`,
        ),
      );
      const json = (await run(MAILQ, ['--json'], { env })).stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(json.length, N);
      assert.ok(json.every((m) => m.problem.kind === 'held' && m.problem.fix === 'set domain (or OUTBOX_DOMAIN)'));

      const crit = await run(OUTBOX, ['check', '--queue'], { env });
      assert.equal(crit.code, 2, crit.stdout + crit.stderr);
      assert.match(
        crit.stdout,
        new RegExp(
          `^OUTBOX QUEUE CRITICAL - ${N} held: relay env refuses the sender <outboxtest@vm>: set domain \\(or OUTBOX_DOMAIN\\); ${N} held, 0 deferred, 0 failed bounce\\(s\\); oldest \\S+ \\| messages=${N};;;0 held=${N};;0;0 `,
        ),
      );

      // The fix, in the configuration file. One queue run delivers every held message once.
      fs.writeFileSync(conf, `hostname = "vm"\ndomain = "harness.test"\naliases = "${aliases}"\n`);
      const q2 = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
      assert.equal(q2.code, 0, q2.stderr);
      assert.deepEqual(controls(t.spool), [], q2.stderr);
      for (let i = 0; i < N; i++) {
        const hits = await mailWith(sh.maildir, `${token} #${i}`, 1, 20_000);
        assert.equal(hits.length, 1, `message ${i} delivered exactly once`);
        const text = fs.readFileSync(hits[0]!, 'latin1');
        assert.match(text, /^Return-Path: <outboxtest@harness\.test>$/m);
      }
      // Nothing else carries the token: no bounce, no duplicate.
      await sleep(500);
      assert.equal((await mailWith(sh.maildir, token, 0, 0)).length, N);
      const ok = await run(OUTBOX, ['check', '--queue'], { env });
      assert.equal(ok.code, 0, ok.stdout);
      assert.match(ok.stdout, /^OUTBOX QUEUE OK - queue empty; /);
    });

    it('a local recipient without a domain (root@vm) that the smarthost refuses is held, not bounced; after the fix it goes to root@DOMAIN', async () => {
      // cron mails `root` on a host whose name has no dot, before any domain is set.
      const { t, conf, aliases, env } = brokenDomain('outbox-holds-rcpt-');
      const token = `rcpt-${randomBytes(6).toString('hex')}`;
      const r = await run(SENDMAIL, ['-odq', '-f', 'cron@harness.test', 'root'], { env, input: `To: root\nSubject: ${token}\n\n${token}\n` });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        controls(t.spool).map((c) => c.recipients.map((x: { address: string }) => x.address)),
        [['root@vm']],
      );

      const q1 = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
      assert.equal(q1.code, 0, q1.stderr);
      assert.match(q1.stderr, /said: 504 5\.5\.2 <root@vm>: Recipient address rejected: need fully-qualified address/);
      assert.match(q1.stderr, /configuration problem.*relay env refuses the local recipient <root@vm>, which has no domain: set domain \(or OUTBOX_DOMAIN\)/);
      const held = controls(t.spool);
      assert.equal(held.length, 1, 'no bounce was queued');
      assert.equal(held[0]!.recipients[0].status, 'deferred');
      const mq = await run(MAILQ, [], { env });
      assert.match(mq.stdout, /1 held: relay env refuses the local recipient <root@vm>, which has no domain: set domain \(or OUTBOX_DOMAIN\)/);

      // The fix: a domain. The held message goes at once, to root at that domain, To: included.
      fs.writeFileSync(conf, `hostname = "vm"\ndomain = "harness.test"\naliases = "${aliases}"\n`);
      const q2 = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
      assert.equal(q2.code, 0, q2.stderr);
      assert.deepEqual(controls(t.spool), [], q2.stderr);
      const hits = await mailWith(sh.maildir, token, 1, 20_000);
      assert.equal(hits.length, 1, 'delivered exactly once');
      const text = fs.readFileSync(hits[0]!, 'latin1');
      assert.match(text, /^Delivered-To: root@harness\.test$/m);
      assert.match(text, /^To: root@harness\.test$/m);
      await sleep(500);
      assert.equal((await mailWith(sh.maildir, token, 0, 0)).length, 1, 'no bounce, no duplicate');
    });
  });
}

describe('outbox check --queue', () => {
  it('WARNING for a deferred message older than --max-age; UNKNOWN for bad arguments', async () => {
    const { relay, t, pw } = await holdsSetup({ faults: { rcpt: { 'later@example.com': '451 4.3.0 Try later' } } });
    const env = { ...t.env, OUTBOX_RELAY: relay.url(), OUTBOX_RELAY_PASSWORD_FILE: pw, OUTBOX_RELAY_CA: relay.caFile };
    const empty = await run(OUTBOX, ['check', '--queue'], { env });
    assert.equal(empty.code, 0, empty.stdout);
    assert.equal((await run(SENDMAIL, ['-odq', '-f', 'app@example.com', 'later@example.com'], { env, input: 'Subject: x\n\nx\n' })).code, 0);
    assert.equal((await run(SENDMAIL, ['-q'], { env, timeoutMs: 30_000 })).code, 0);
    await sleep(1100);
    const young = await run(OUTBOX, ['check', '--queue'], { env });
    assert.equal(young.code, 0, young.stdout);
    assert.match(young.stdout, /^OUTBOX QUEUE OK - 1 deferred: .*451 4\.3\.0 Try later/);
    const old = await run(OUTBOX, ['check', '--queue', '--max-age', '1s'], { env });
    assert.equal(old.code, 1, old.stdout);
    assert.match(
      old.stdout,
      /^OUTBOX QUEUE WARNING - 1 deferred: .*; 0 held, 1 deferred, 0 failed bounce\(s\); oldest \d+s \(more than 1s\) \| .* oldest=\d+s;1;;0\n/,
    );
    const bad = await run(OUTBOX, ['check', '--queue', '--max-age', 'soon'], { env });
    assert.equal(bad.code, 3);
    assert.match(bad.stdout, /^OUTBOX QUEUE UNKNOWN - --max-age/);
  });
});

describe('the daemon and hold routes', () => {
  it('scan_interval is honoured; a changed file and SIGHUP reload it; a hold route holds and says so', async () => {
    const { relay, t, pw } = await holdsSetup();
    const conf = path.join(t.dir, 'outbox.conf');
    const base = `hostname = "vm"\ndomain = "harness.test"\n[delivery]\nscan_interval = "1s"\n`;
    fs.writeFileSync(conf, base);
    const env = {
      ...t.env,
      OUTBOX_CONFIG: conf,
      OUTBOX_RELAY: relay.url(),
      OUTBOX_RELAY_PASSWORD_FILE: pw,
      OUTBOX_RELAY_CA: relay.caFile,
      OUTBOX_LOG: 'stderr',
    };
    const daemon = start(OUTBOX, ['-bd'], { env });
    let err = '';
    daemon.stderr!.on('data', (d) => (err += d));
    const closed = new Promise<number | null>((res) => daemon.once('close', (c) => res(c)));
    const waitFor = async (re: RegExp, ms = 20_000) => {
      const t0 = Date.now();
      while (!re.test(err) && Date.now() - t0 < ms) await sleep(50);
      assert.match(err, re);
    };
    try {
      await waitFor(/daemon started: .*queue scan every 1 s/);
      // A hold route appears in the file: noticed at the next scan, without a signal.
      fs.writeFileSync(conf, `${base}\n[[route]]\ndomain = "frozen.example"\nrelay = "hold"\n`);
      await waitFor(/configuration changed: configuration reloaded/);
      const r = await run(SENDMAIL, ['-odq', '-f', 'app@example.com', 'z@frozen.example'], { env, input: 'Subject: frozen\n\nx\n' });
      assert.equal(r.code, 0, r.stderr);
      const id = controls(t.spool)[0]!.id as string;
      await waitFor(/held by route 1 \(.*outbox\.conf:6\): relay = "hold"/);
      assert.equal(relay.received.length, 0, 'held, not sent');
      const mq = await run(MAILQ, [], { env });
      assert.match(mq.stdout, /\(held by route 1 \(\S+outbox\.conf:6\): relay = "hold"\)\n\s+z@frozen\.example\n/);
      assert.match(mq.stdout, /Problems:\n  1 held: held by route 1 /);
      const show = await run(OUTBOX, ['queue', 'show', id], { env });
      assert.match(show.stdout, /^State:       held by route 1 \(\S+outbox\.conf:6\): relay = "hold"; 0 attempts/m);
      const dv = await run(OUTBOX, ['deliver', '-v', id], { env });
      assert.equal(dv.code, 75);
      assert.match(dv.stderr, new RegExp(`${id}: held by route 1 \\(\\S+outbox\\.conf:6\\): relay = "hold"`));

      // The route goes away; SIGHUP rereads the file at once and the message is delivered.
      fs.writeFileSync(conf, base);
      daemon.kill('SIGHUP');
      await waitFor(/SIGHUP: configuration reloaded/);
      await relay.waitFor(1, 20_000);
      assert.deepEqual(relay.received[0]!.rcptTo, ['z@frozen.example']);
    } finally {
      daemon.kill('SIGTERM');
      assert.equal(await closed, 0, err);
    }
  });

  it('sendmail -bv with no relay configured: not deliverable, exit 78', async () => {
    const t = tempSpool('outbox-holds-');
    cleanups.push(() => t.cleanup());
    const conf = path.join(t.dir, 'outbox.conf');
    fs.writeFileSync(conf, 'hostname = "vm"\ndomain = "harness.test"\n');
    const r = await run(SENDMAIL, ['-bv', 'someone@example.com'], { env: { ...t.env, OUTBOX_CONFIG: conf } });
    assert.equal(r.code, 78, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /^someone@example\.com\.\.\. not deliverable: relay env \(OUTBOX_RELAY is not set: no relay configured\); .*fix: set OUTBOX_RELAY=/m,
    );
  });
});
