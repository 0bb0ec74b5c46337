/**
 * test/e2e/nodeenv.test.ts — the executable runs wherever its caller runs (issue 16,
 * docs/where-it-runs.md): the caller's NODE_OPTIONS and other Node/OpenSSL/libuv variables change
 * nothing, every mode works under a 1 GiB address-space limit, and a uid with no passwd entry
 * and no usable HOME gets one clear line naming OUTBOX_SPOOL.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { MAILQ, SENDMAIL, controls, run, spoolsForFile } from '../helpers/run.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';

const spool = spoolsForFile(after, 'outbox-nodeenv-');
const relays: TestRelay[] = [];
after(async () => {
  for (const r of relays) await r.close();
});

const MSG = 'To: someone@example.com\nFrom: app@example.com\nSubject: env\n\nHello.\n';
/** Log lines carry queue ids, pids and times: compare their shape only. */
const shape = (s: string) =>
  s
    .replace(/\b[0-9A-Z]{12}\b/g, 'ID')
    .replace(/\[\d+\]/g, '[PID]')
    .replace(/delays?=[\d./]+/g, 'delay');

async function relaySetup() {
  const relay = await startRelay();
  relays.push(relay);
  const t = spool();
  const pw = path.join(t.dir, 'password');
  fs.writeFileSync(pw, 'secret\n', { mode: 0o600 });
  return { relay, t, env: { ...t.env, OUTBOX_RELAY: relay.url(), OUTBOX_RELAY_PASSWORD_FILE: pw, OUTBOX_RELAY_CA: relay.caFile, OUTBOX_LOG: 'stderr' } };
}

describe("the caller's NODE_OPTIONS and Node variables change nothing", () => {
  const callerEnvs: Record<string, string>[] = [
    { NODE_OPTIONS: '--require ./missing.js' },
    { NODE_OPTIONS: '--max-old-space-size=8' },
    // Read by Node at start-up: the process replaces itself without them (execve), keeping its name.
    { NODE_DEBUG: 'module,fs', NODE_PENDING_DEPRECATION: '1' },
  ];
  for (const extra of callerEnvs) {
    it(`${Object.entries(extra)
      .map(([k, v]) => `${k}="${v}"`)
      .join(' ')}: same exit status, stderr and spool for a submission and mailq`, async () => {
      const plain = spool();
      const withOpts = spool();
      const a = await run(SENDMAIL, ['-t', '-i'], { env: plain.env, input: MSG });
      const b = await run(SENDMAIL, ['-t', '-i'], { env: { ...withOpts.env, ...extra }, input: MSG, cwd: withOpts.dir });
      assert.equal(a.code, 0, a.stderr);
      assert.deepEqual([b.code, b.stderr, b.stdout], [a.code, a.stderr, a.stdout]);
      assert.equal(controls(withOpts.spool).length, 1);
      const qa = await run(MAILQ, [], { env: plain.env });
      const qb = await run(MAILQ, [], { env: { ...withOpts.env, ...extra }, cwd: withOpts.dir });
      assert.equal(qb.code, 0, qb.stderr);
      assert.equal(qb.stderr, qa.stderr);
      assert.match(qb.stdout, /someone@example\.com/);
      assert.equal(shape(qb.stdout).replace(/\d\d:\d\d(:\d\d)?/g, 'T'), shape(qa.stdout).replace(/\d\d:\d\d(:\d\d)?/g, 'T'));
    });
  }

  it('debug, warning, coverage, CA and thread-pool variables: a TLS delivery prints and writes the same, certificate checks stay on', async () => {
    const s = await relaySetup();
    const cov = path.join(s.t.dir, 'coverage');
    const noisy = {
      NODE_OPTIONS: '--require ./tracing.js --trace-warnings',
      NODE_DEBUG: 'module,fs,net,tls,child_process',
      NODE_PENDING_DEPRECATION: '1',
      NODE_EXTRA_CA_CERTS: '/nonexistent/ca.pem',
      NODE_TLS_REJECT_UNAUTHORIZED: '0',
      NODE_V8_COVERAGE: cov,
      NODE_REDIRECT_WARNINGS: path.join(s.t.dir, 'warnings'),
      UV_THREADPOOL_SIZE: '1024',
      OPENSSL_CONF: '/nonexistent/openssl.cnf',
      SSL_CERT_FILE: '/nonexistent/cert.pem',
    };
    const q1 = await run(SENDMAIL, ['-odq', '-t', '-i'], { env: s.env, input: MSG });
    const q2 = await run(SENDMAIL, ['-odq', '-t', '-i'], { env: { ...s.env, ...noisy }, input: MSG });
    assert.deepEqual([q2.code, shape(q2.stderr)], [q1.code, shape(q1.stderr)]);
    const r = await run(SENDMAIL, ['-q'], { env: { ...s.env, ...noisy }, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(s.relay.received.length, 2);
    assert.equal(s.relay.received[0]!.secure, true);
    const lines = r.stderr.trim().split('\n');
    assert.ok(
      lines.every((l) => /^sendmail\[PID\]: |^outbox\/(pickup|qmgr|smtp|bounce)\[PID\]: /.test(shape(l))),
      `only our own log lines on stderr:\n${r.stderr}`,
    );
    assert.ok(!fs.existsSync(cov) || fs.readdirSync(cov).length === 0, 'no coverage files');
    assert.ok(!fs.existsSync(noisy.NODE_REDIRECT_WARNINGS), 'no warnings file');

    // NODE_TLS_REJECT_UNAUTHORIZED=0 does not turn certificate checks off: without our CA, refused.
    const env = { ...s.env, ...noisy } as Record<string, string | undefined>;
    delete env.OUTBOX_RELAY_CA;
    const q3 = await run(SENDMAIL, ['-odq', '-t', '-i'], { env, input: MSG });
    assert.equal(q3.code, 0, q3.stderr);
    const r2 = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
    assert.equal(s.relay.received.length, 2, 'nothing delivered to an untrusted certificate');
    assert.match(r2.stderr, /certificate/i);
    assert.doesNotMatch(r2.stderr, /NODE_TLS_REJECT_UNAUTHORIZED|Warning/);
  });

  it("password_command runs without the caller's Node variables (the rest of the environment kept)", async () => {
    const s = await relaySetup();
    const seen = path.join(s.t.dir, 'seen-env');
    const conf = path.join(s.t.dir, 'outbox.conf');
    fs.writeFileSync(conf, `[relay.main]\nurl = "${s.relay.url()}"\npassword_command = "env > ${seen}; echo secret"\nca_file = "${s.relay.caFile}"\n`, {
      mode: 0o600,
    });
    const env = {
      OUTBOX_SPOOL: s.t.spool,
      OUTBOX_CONFIG: conf,
      OUTBOX_LOG: 'stderr',
      NODE_OPTIONS: '--require ./tracing.js',
      NODE_DEBUG: 'net',
      APP_SETTING: 'kept',
    };
    assert.equal((await run(SENDMAIL, ['-odq', '-t', '-i'], { env, input: MSG })).code, 0);
    const r = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(s.relay.received.length, 1);
    const childEnv = fs.readFileSync(seen, 'utf8');
    assert.match(childEnv, /^APP_SETTING=kept$/m);
    assert.doesNotMatch(childEnv, /^NODE_(OPTIONS|DEBUG)=/m);
  });
});

describe('NODE_EXTRA_CA_CERTS: Node reads the file only when this process makes a TLS context', () => {
  it('a plain submission neither restarts nor reads it, the delivery it starts does not trust that CA, other modes restart', async () => {
    const s = await relaySetup();
    // The relay's own CA: the one file that would make its certificate trusted.
    const env = { ...s.env, NODE_EXTRA_CA_CERTS: s.relay.caFile } as Record<string, string>;
    delete env.OUTBOX_RELAY_CA;
    const traced = async (name: string, cmd: string, args: string[], input = '') => {
      const out = path.join(s.t.dir, `trace.${name}`);
      const r = await run('strace', ['-f', '-qq', '-e', 'trace=execve,openat,open', '-o', out, cmd, ...args], { env, input, timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      const lines = fs.readFileSync(out, 'utf8').split('\n');
      return { execs: lines.filter((l) => /execve\(/.test(l) && / = 0$/.test(l)).length, readsCa: lines.some((l) => l.includes(s.relay.caFile)) };
    };
    // -odq: started once (no execve of a fresh copy), and the CA file is never opened.
    assert.deepEqual(await traced('odq', SENDMAIL, ['-odq', '-t', '-i'], MSG), { execs: 1, readsCa: false });
    // Any other mode restarts without the variable first (mailq: the cheapest to show it).
    assert.deepEqual((await traced('mailq', MAILQ, [])).execs, 2);
    // -odi: the delivery child it starts has the cleaned environment: the relay stays untrusted.
    const odi = await run(SENDMAIL, ['-odi', '-t', '-i'], { env, input: MSG, timeoutMs: 60_000 });
    assert.equal(odi.code, 75, odi.stderr);
    assert.match(odi.stderr, /certificate/i);
    assert.equal(s.relay.received.length, 0);
    // The control: with that CA configured the relay is trusted (so the above was the variable's absence).
    const q = await run(SENDMAIL, ['-q'], { env: s.env, timeoutMs: 60_000 });
    assert.equal(q.code, 0, q.stderr);
    assert.ok(s.relay.received.length >= 1 && s.relay.received.every((m) => m.secure), q.stderr);
  });
});

describe('inside a 1 GiB address-space limit (ulimit -v 1048576)', () => {
  const limited = (cmd: string) => ['prlimit', `--as=${1024 * 1024 * 1024}`, '--', cmd];
  const runLimited = (cmd: string, args: string[], opts: Parameters<typeof run>[2]) => {
    const [p, ...pre] = limited(cmd);
    return run(p!, [...pre, ...args], opts);
  };

  it('submission, mailq, -bs and a queue run delivering over STARTTLS + AUTH all succeed', async () => {
    const s = await relaySetup();
    const sub = await runLimited(SENDMAIL, ['-t', '-i', '-odq'], { env: s.env, input: MSG });
    assert.deepEqual([sub.code, sub.signal], [0, null], sub.stderr);
    const dialog = 'EHLO test\r\nMAIL FROM:<app@example.com>\r\nRCPT TO:<other@example.com>\r\nDATA\r\nSubject: bs\r\n\r\nHi.\r\n.\r\nQUIT\r\n';
    // -odq: no background runner, so the queue run below is the one that delivers both.
    const bs = await runLimited(SENDMAIL, ['-bs', '-odq'], { env: s.env, input: dialog });
    assert.deepEqual([bs.code, bs.signal], [0, null], bs.stderr);
    assert.match(bs.stdout, /^250 .*queued/m);
    const q = await runLimited(MAILQ, [], { env: s.env });
    assert.deepEqual([q.code, q.signal], [0, null], q.stderr);
    assert.match(q.stdout, /someone@example\.com/);
    assert.match(q.stdout, /other@example\.com/);
    const r = await runLimited(SENDMAIL, ['-q'], { env: s.env, timeoutMs: 60_000 });
    assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
    assert.equal(s.relay.received.length, 2);
    assert.ok(s.relay.received.every((m) => m.secure && m.authUser === 'outbox'));
  });
});

describe('below the minimum address space', () => {
  it('between start-up and what a queue run needs: the submission works, the queue run exits 75 with one line (no abort)', async () => {
    const s = await relaySetup();
    const lim = ['--as=' + 680 * 1024 * 1024, '--'];
    const sub = await run('prlimit', [...lim, SENDMAIL, '-odq', '-t', '-i'], { env: s.env, input: MSG });
    assert.deepEqual([sub.code, sub.signal], [0, null], sub.stderr);
    const r = await run('prlimit', [...lim, SENDMAIL, '-q'], { env: s.env, timeoutMs: 60_000 });
    assert.deepEqual([r.code, r.signal], [75, null], r.stderr);
    assert.match(
      r.stderr,
      /^sendmail: the address-space limit \(ulimit -v 696320\) is below the \d+ MiB a queue run needs: the mail stays queued; raise it to at least ulimit -v \d+\n$/,
    );
    assert.equal(controls(s.t.spool).length, 1);
    assert.equal(s.relay.received.length, 0);
  });
});

describe('a uid with no passwd entry (docker run --user, OpenShift, DynamicUser)', () => {
  // A uid that no passwd entry names; the test skips nothing: it picks one.
  const passwd = fs.readFileSync('/etc/passwd', 'utf8');
  let uid = 12345;
  while (new RegExp(`^[^:]*:[^:]*:${uid}:`, 'm').test(passwd)) uid++;
  const asUid = (env: Record<string, string>, args: string[], input = '') =>
    run(
      'setpriv',
      [
        '--reuid',
        String(uid),
        '--regid',
        String(uid),
        '--clear-groups',
        'env',
        '-i',
        ...Object.entries({ PATH: '/usr/bin:/bin', ...env }).map(([k, v]) => `${k}=${v}`),
        SENDMAIL,
        ...args,
      ],
      {
        input,
        cwd: '/',
        env: {},
      },
    );

  it('without HOME, and with HOME=/ : exit 78 and one line naming OUTBOX_SPOOL, for sendmail and mailq', async () => {
    for (const env of [{}, { HOME: '/' }] as Record<string, string>[]) {
      const r = await asUid(env, ['-t', '-i'], MSG);
      assert.equal(r.code, 78, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^sendmail: no spool for uid ${uid}: .*set OUTBOX_SPOOL to a directory uid ${uid} can write`));
      assert.doesNotMatch(r.stderr, /uv_os_homedir|ENOENT|system error/);
      const q = await asUid(env, ['-bp']);
      assert.equal(q.code, 78, q.stderr);
      assert.match(q.stderr, /OUTBOX_SPOOL/);
    }
  });

  it('with a writable HOME, or with OUTBOX_SPOOL, it submits', async () => {
    const t = spool();
    const home = path.join(t.dir, 'home');
    const own = path.join(t.dir, 'own-spool');
    fs.mkdirSync(home);
    fs.mkdirSync(own);
    execFileSync('chown', [String(uid), home, own]);
    fs.chmodSync(t.dir, 0o755);
    const a = await asUid({ HOME: home }, ['-t', '-i'], MSG);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(controls(path.join(home, '.local/state/outbox')).length, 1);
    const b = await asUid({ OUTBOX_SPOOL: own }, ['-t', '-i'], MSG);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(controls(own).length, 1);
  });
});
