/**
 * End-to-end: `outbox check` through the built binary against scripted relays on 127.0.0.1:
 * good, expired and wrong-host certificates, a wrong password, no STARTTLS, a closed port.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { OUTBOX, SENDMAIL, run, tempSpool } from '../helpers/run.js';
import { startRelay, type RelayOptions, type TestRelay } from '../helpers/relay.js';

const t = tempSpool('outbox-check-e2e-');
const relays: TestRelay[] = [];
after(async () => {
  await Promise.all(relays.map((r) => r.close()));
  t.cleanup();
});
const pw = path.join(t.dir, 'pw');
fs.writeFileSync(pw, 'secret\n', { mode: 0o600 });
const badPw = path.join(t.dir, 'badpw');
fs.writeFileSync(badPw, 'not-the-password\n', { mode: 0o600 });

/** A port with nothing listening (bound, then released). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

let n = 0;
async function check(opts: RelayOptions | null, extra = '', passwordFile = pw, urlOverride?: string) {
  let url = urlOverride;
  let caFile = '';
  if (opts) {
    const r = await startRelay(opts);
    relays.push(r);
    url = r.url();
    caFile = r.caFile;
  }
  const f = path.join(t.dir, `c${++n}.conf`);
  fs.writeFileSync(f, `[relay.r${n}]\nurl = "${url}"\npassword_file = "${passwordFile}"\n${caFile ? `ca_file = "${caFile}"\n` : ''}${extra}`, { mode: 0o600 });
  const closed = await closedPort();
  const res = await run(OUTBOX, ['check', '-C', f, '--timeout', '3', '--ports', String(closed)], { env: t.env, timeoutMs: 60_000 });
  return { ...res, name: `r${n}`, closed };
}

/** A scripted relay named in a configuration as [relay.NAME] (url, then `body`), and `outbox check` on it. */
async function checkRelay(name: string, body: (r: TestRelay) => string, opts: RelayOptions = {}) {
  const r0 = await startRelay(opts);
  relays.push(r0);
  const f = path.join(t.dir, `${name}.conf`);
  fs.writeFileSync(f, `[relay.${name}]\nurl = "${r0.url()}"\n${body(r0)}`, { mode: 0o600 });
  const closed = await closedPort();
  const res = await run(OUTBOX, ['check', '-C', f, '--timeout', '3', '--ports', String(closed)], { env: t.env, timeoutMs: 30_000 });
  return { r0, f, res };
}

describe('outbox check', () => {
  it('a good relay: STARTTLS, valid certificate with days to expiry, AUTH accepted, extensions; exit 0', async () => {
    const r = await check({ size: 10_000_000, dsn: true });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /ok {3}STARTTLS: offered, TLSv1\.[23]/);
    assert.match(r.stdout, /ok {3}certificate chain: valid \(CN=localhost, issued by CN=Outbox Test CA\)/);
    assert.match(r.stdout, /ok {3}certificate expires \d{4}-\d\d-\d\d: in 36\d\d days/);
    assert.match(r.stdout, /ok {3}AUTH PLAIN: accepted for outbox/);
    assert.match(r.stdout, /extensions: SIZE 10000000, PIPELINING, 8BITMIME, SMTPUTF8, DSN\n/);
    assert.match(r.stdout, new RegExp(`port ${r.closed}: closed \\(connection refused\\)`));
    assert.match(r.stdout, new RegExp(`verdict ${r.name}: OK\\n`));
    assert.doesNotMatch(r.stdout + r.stderr, /secret/);
  });

  it('implicit TLS (smtps) with a fingerprint pin', async () => {
    const { testPki } = await import('../helpers/pki.js');
    const r = await check({ secure: true }, `fingerprint = "${testPki().good.sha256}"\n`);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /TLS \(implicit\)/);
    assert.match(r.stdout, /matches the configured fingerprint pin/);
  });

  it('an expired certificate: FAIL, and the password is not sent; exit 69', async () => {
    const before = relays.length;
    const r = await check({ cert: 'expired' });
    assert.equal(r.code, 69);
    assert.match(r.stdout, /FAIL certificate NOT valid: expired \d+ (days|hours?) ago/);
    assert.match(r.stdout, /AUTH: not tried: the password is never sent/);
    assert.match(r.stdout, new RegExp(`verdict ${r.name}: FAIL: certificate NOT valid: expired`));
    assert.equal(relays[before]!.authAttempts, 0);
  });

  it('a certificate for another host: FAIL naming both names', async () => {
    const r = await check({ cert: 'wronghost' });
    assert.equal(r.code, 69);
    assert.match(r.stdout, /FAIL certificate is for another host: it names DNS:wrong\.example, the URL says localhost/);
  });

  it('a self-signed certificate: FAIL with the fix', async () => {
    const r = await check({ cert: 'selfsigned' });
    assert.equal(r.code, 69);
    assert.match(r.stdout, /self-signed: not issued by a trusted CA \(trust its CA with ca_file\)/);
  });

  it('a wrong password: FAIL "wrong user name or password"', async () => {
    const r = await check({}, '', badPw);
    assert.equal(r.code, 69);
    assert.match(r.stdout, /FAIL AUTH PLAIN: REJECTED for outbox: wrong user name or password \(535/);
    assert.doesNotMatch(r.stdout + r.stderr, /not-the-password/);
  });

  it('STARTTLS not offered: FAIL', async () => {
    const r = await check({ starttls: false });
    assert.equal(r.code, 69);
    assert.match(r.stdout, /FAIL STARTTLS NOT offered/);
  });

  it('a closed port: FAIL, bounded in time', async () => {
    const port = await closedPort();
    const r = await check(null, '', pw, `smtp+starttls://outbox@localhost:${port}`);
    assert.equal(r.code, 69);
    assert.match(r.stdout, new RegExp(`FAIL port ${port}: closed \\(connection refused\\)`));
    assert.match(r.stdout, new RegExp(`verdict ${r.name}: FAIL: port ${port}: closed`));
    assert.ok(r.ms < 20_000);
  });

  it('the relay from OUTBOX_RELAY* (containers): checked as relay "env"', async () => {
    const r0 = await startRelay({});
    relays.push(r0);
    const empty = path.join(t.dir, 'empty.conf');
    fs.writeFileSync(empty, '');
    const closed = await closedPort();
    const r = await run(OUTBOX, ['check', '-C', empty, '--timeout', '3', '--ports', String(closed)], {
      env: { ...t.env, OUTBOX_RELAY: r0.url(), OUTBOX_RELAY_PASSWORD_FILE: pw, OUTBOX_RELAY_CA: r0.caFile },
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^relay env: smtp\+starttls:\/\/localhost:\d+ as outbox$/m);
    assert.match(r.stdout, /AUTH PLAIN: accepted for outbox/);
    assert.match(r.stdout, /verdict env: OK/);
  });

  it('a server that accepts and never greets: FAIL within the step timeout', async () => {
    const sockets = new Set<net.Socket>();
    const srv = net.createServer((c) => {
      sockets.add(c);
      c.on('error', () => {});
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as net.AddressInfo).port;
      const r = await check(null, '', pw, `smtp+starttls://outbox@localhost:${port}`);
      assert.equal(r.code, 69);
      assert.match(r.stdout, /FAIL no greeting within 3 s/);
      assert.ok(r.ms < 20_000, `took ${r.ms} ms`); // the 3 s step timeout, plus start-up
    } finally {
      for (const c of sockets) c.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  it('a fingerprint pin without a CA file: FAIL, as delivery refuses it (a pin never replaces verification); exit 69', async () => {
    const { testPki } = await import('../helpers/pki.js');
    const { r0, res: r } = await checkRelay('pinned', () => `password_file = "${pw}"\nfingerprint = "${testPki().good.sha256}"\n`, { secure: true });
    assert.equal(r.code, 69, r.stdout + r.stderr);
    assert.match(r.stdout, /ok {3}certificate: matches the configured fingerprint pin/);
    assert.match(r.stdout, /FAIL certificate NOT valid: issued by a CA this system does not trust \(set ca_file\); the pin does not replace verification/);
    assert.match(r.stdout, /verdict pinned: FAIL/);
    assert.doesNotMatch(r.stdout, /accepted because of the pin/);
    assert.equal(r0.authAttempts, 0);
  });

  it("the relay's own timeouts, as delivery uses them: greeting_timeout, then command_timeout", async () => {
    // Greets after 3 s (6x the short greeting_timeout, for a loaded machine); then never answers.
    // command_timeout is also nodemailer's idle limit while the greeting is awaited (delivery's
    // session, which check now opens): 15 s, 5x the greeting's delay.
    const sockets = new Set<net.Socket>();
    const timers = new Set<NodeJS.Timeout>();
    const srv = net.createServer((c) => {
      sockets.add(c);
      c.on('error', () => {});
      timers.add(setTimeout(() => c.write('220 slow.test ESMTP\r\n'), 3000));
    });
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
    try {
      const port = (srv.address() as net.AddressInfo).port;
      const closed = await closedPort();
      const probe = async (timeouts: string) => {
        const f = path.join(t.dir, `timeouts-${++n}.conf`);
        fs.writeFileSync(f, `[relay.slow]\nurl = "smtp+starttls://outbox@localhost:${port}"\npassword_file = "${pw}"\n${timeouts}`, { mode: 0o600 });
        return run(OUTBOX, ['check', '-C', f, '--ports', String(closed)], { env: t.env, timeoutMs: 120_000 });
      };
      const short = await probe('greeting_timeout = "500ms"\n');
      assert.equal(short.code, 69, short.stdout);
      assert.match(short.stdout, /FAIL no greeting within 500 ms/);
      // No greeting_timeout: delivery's default (30 s), not a shorter step of check's own.
      const long = await probe('command_timeout = "15s"\n');
      assert.equal(long.code, 69, long.stdout);
      assert.match(long.stdout, /ok {3}greeting: 220 slow\.test ESMTP/);
      assert.match(long.stdout, /FAIL no EHLO reply within 15 s/);
    } finally {
      for (const c of sockets) c.destroy();
      for (const x of timers) clearTimeout(x);
      await new Promise<void>((res) => srv.close(() => res()));
    }
  });

  it('OUTBOX_RELAY is read as delivery reads it (one builder): trimmed, listed once', async () => {
    const r0 = await startRelay({});
    relays.push(r0);
    const f = path.join(t.dir, 'env-trim.conf');
    fs.writeFileSync(f, '');
    const closed = await closedPort();
    const r = await run(OUTBOX, ['check', '-C', f, '--timeout', '3', '--ports', String(closed)], {
      env: { ...t.env, OUTBOX_RELAY: ` ${r0.url()}\n`, OUTBOX_RELAY_PASSWORD_FILE: pw, OUTBOX_RELAY_CA: r0.caFile },
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout.match(/^relay env: /gm)?.length, 1, r.stdout);
    assert.match(r.stdout, /verdict env: OK/);
  });

  it("one CA set: with the relay's CA in OUTBOX_CA_BUNDLE and no ca_file, check says OK and delivery delivers", async () => {
    const r0 = await startRelay({});
    relays.push(r0);
    const f = path.join(t.dir, 'system-ca.conf');
    fs.writeFileSync(f, `[relay.sys]\nurl = "${r0.url()}"\npassword_file = "${pw}"\n`, { mode: 0o600 });
    const env = { ...t.env, OUTBOX_CA_BUNDLE: r0.caFile };
    const closed = await closedPort();
    const r = await run(OUTBOX, ['check', '-C', f, '--timeout', '3', '--ports', String(closed)], { env, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /certificate chain: valid/);
    const q = await run(SENDMAIL, ['-C', f, '-odq', 'a@example.com'], { env, input: 'Subject: ca\n\nx\n' });
    assert.equal(q.code, 0, q.stderr);
    const d = await run(SENDMAIL, ['-C', f, '-q'], { env: { ...env, OUTBOX_LOG: 'stderr' }, timeoutMs: 30_000 });
    assert.equal(d.code, 0, d.stderr);
    assert.equal(r0.received.length, 1, d.stderr);
  });

  it('one fingerprint rule: a pin written "aabb.." (no colons) matches in check and in delivery; a wrong pin fails both', async (tc) => {
    const { testPki } = await import('../helpers/pki.js');
    const r0 = await startRelay({});
    relays.push(r0);
    const closed = await closedPort();
    const conf = (name: string, pin: string) => {
      const f = path.join(t.dir, `${name}.conf`);
      fs.writeFileSync(f, `[relay.${name}]\nurl = "${r0.url()}"\npassword_file = "${pw}"\nca_file = "${r0.caFile}"\nfingerprint = "${pin}"\n`, { mode: 0o600 });
      return f;
    };
    // Its own spool: messages other tests left queued would go to this relay too.
    const own = tempSpool('outbox-check-pin-');
    tc.after(() => own.cleanup());
    const deliver = async (f: string) => {
      assert.equal((await run(SENDMAIL, ['-C', f, '-odq', 'a@example.com'], { env: own.env, input: 'Subject: pin\n\nx\n' })).code, 0);
      return run(SENDMAIL, ['-C', f, '-q'], { env: { ...own.env, OUTBOX_LOG: 'stderr' }, timeoutMs: 30_000 });
    };
    const good = conf('pinhex', testPki().good.sha256Hex);
    const c = await run(OUTBOX, ['check', '-C', good, '--timeout', '3', '--ports', String(closed)], { env: t.env, timeoutMs: 30_000 });
    assert.equal(c.code, 0, c.stdout + c.stderr);
    assert.match(c.stdout, /ok {3}certificate: matches the configured fingerprint pin/);
    const d = await deliver(good);
    assert.equal(r0.received.length, 1, d.stderr);
    const wrong = conf('pinwrong', 'ab'.repeat(32));
    const w = await run(OUTBOX, ['check', '-C', wrong, '--timeout', '3', '--ports', String(closed)], { env: t.env, timeoutMs: 30_000 });
    assert.equal(w.code, 69, w.stdout + w.stderr);
    assert.match(w.stdout, /FAIL certificate: fingerprint .* does not match the configured fingerprint pin/);
    const dw = await deliver(wrong);
    assert.match(dw.stderr, /status=deferred/);
    assert.equal(r0.received.length, 1, 'the wrong pin delivers nothing');
  });

  it('an oauth_token_command relay without an auth key logs in as delivery does (XOAUTH2), in check and in delivery', async () => {
    const { r0, f, res: c } = await checkRelay('tok', (r) => `ca_file = "${r.caFile}"\noauth_token_command = "echo token-outbox"\n`);
    assert.equal(c.code, 0, c.stdout + c.stderr);
    assert.match(c.stdout, /ok {3}AUTH XOAUTH2: accepted for outbox/);
    // Its own spool: messages other tests left queued would go to this relay too.
    const own = tempSpool('outbox-check-oauth-');
    try {
      assert.equal((await run(SENDMAIL, ['-C', f, '-odq', 'a@example.com'], { env: own.env, input: 'Subject: tok\n\nx\n' })).code, 0);
      const d = await run(SENDMAIL, ['-C', f, '-q'], { env: { ...own.env, OUTBOX_LOG: 'stderr' }, timeoutMs: 30_000 });
      assert.equal(r0.received.length, 1, d.stderr);
    } finally {
      own.cleanup();
    }
  });

  it('a TLS alert from the server: FAIL saying so, with a hint', async () => {
    const srv = net.createServer((c) => {
      c.on('error', () => {});
      c.once('data', () => c.end(Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50])));
    });
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
    try {
      const port = (srv.address() as net.AddressInfo).port;
      const r = await check(null, '', pw, `smtps://outbox@127.0.0.1:${port}`);
      assert.equal(r.code, 69, r.stdout);
      assert.match(r.stdout, /FAIL the TLS handshake failed: the server sent alert 80 \(internal_error\): the problem is on the relay's side/);
      assert.doesNotMatch(r.stdout, /SSL routines|use-system-ca/);
    } finally {
      await new Promise<void>((res) => srv.close(() => res()));
    }
  });

  it('an unreadable secret is a configuration problem: exit 78', async () => {
    const open = path.join(t.dir, 'open');
    fs.writeFileSync(open, 'x\n');
    fs.chmodSync(open, 0o644);
    const r = await check({}, '', open);
    assert.equal(r.code, 78);
    assert.match(r.stdout, /FAIL .*password_file: refusing .*readable or writable by others/);
  });
});
