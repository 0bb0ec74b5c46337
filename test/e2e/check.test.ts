/**
 * End-to-end: `outbox check` through the built binary against scripted relays on 127.0.0.1:
 * good, expired and wrong-host certificates, a wrong password, no STARTTLS, a closed port.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { OUTBOX, run, tempSpool } from '../helpers/run.js';
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
    assert.match(r.stdout, /FAIL certificate NOT valid: expired \d+ days? ago/);
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
    assert.match(r.stdout, /self-signed: not issued by a trusted CA \(trust its CA with ca_file, or pin it with fingerprint\)/);
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

  it('an unreadable secret is a configuration problem: exit 78', async () => {
    const open = path.join(t.dir, 'open');
    fs.writeFileSync(open, 'x\n');
    fs.chmodSync(open, 0o644);
    const r = await check({}, '', open);
    assert.equal(r.code, 78);
    assert.match(r.stdout, /FAIL .*password_file: refusing .*readable or writable by others/);
  });
});
