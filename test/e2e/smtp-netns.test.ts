/**
 * No open relay, from a real non-loopback address: two network namespaces of our own joined by
 * a veth pair with link-local IPv4 addresses (169.254.77.1 = server, 169.254.77.2 = client) and
 * unique local IPv6 ones (fd00:77::1, fd00:77::2); nothing leaves the machine. `outbox serve` runs in one, swaks in the other.
 *  - without AUTH configured, serve refuses to listen on 169.254.77.1 at all (exit 78);
 *  - with AUTH (+ STARTTLS) on 169.254.77.1, a client that did not authenticate cannot relay:
 *    RCPT gets 530 5.7.0, in plaintext and after STARTTLS alike, and nothing is queued;
 *  - after STARTTLS + AUTH PLAIN the same client can submit.
 * Needs root (CI runs as root); the namespaces are removed afterwards.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OUTBOX, controls, run, tempSpool } from '../helpers/run.js';
import { testPki } from '../helpers/pki.js';
import { startServe } from '../helpers/serve.js';

const NS_SRV = `obxs${process.pid}`;
const NS_CLI = `obxc${process.pid}`;
const IF_SRV = `obxa${process.pid % 100000}`;
const IF_CLI = `obxb${process.pid % 100000}`;
const SRV_IP = '169.254.77.1';
const CLI_IP = '169.254.77.2';
const SRV_IP6 = 'fd00:77::1';
const CLI_IP6 = 'fd00:77::2';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

describe('no open relay from a non-loopback address (network namespaces)', () => {
  const s = tempSpool('outbox-netns-');
  before(() => {
    ip('netns', 'add', NS_SRV);
    ip('netns', 'add', NS_CLI);
    ip('link', 'add', IF_SRV, 'type', 'veth', 'peer', 'name', IF_CLI);
    ip('link', 'set', IF_SRV, 'netns', NS_SRV);
    ip('link', 'set', IF_CLI, 'netns', NS_CLI);
    ip('-n', NS_SRV, 'addr', 'add', `${SRV_IP}/24`, 'dev', IF_SRV);
    ip('-n', NS_CLI, 'addr', 'add', `${CLI_IP}/24`, 'dev', IF_CLI);
    // Unique local IPv6 addresses, without duplicate address detection (usable at once).
    ip('-n', NS_SRV, '-6', 'addr', 'add', `${SRV_IP6}/64`, 'dev', IF_SRV, 'nodad');
    ip('-n', NS_CLI, '-6', 'addr', 'add', `${CLI_IP6}/64`, 'dev', IF_CLI, 'nodad');
    for (const [ns, dev] of [
      [NS_SRV, IF_SRV],
      [NS_CLI, IF_CLI],
    ] as const) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
  });
  after(() => {
    for (const ns of [NS_SRV, NS_CLI]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
    s.cleanup();
  });

  it('refuses unauthenticated relaying and accepts authenticated submission', async () => {
    const pki = testPki();
    const users = path.join(s.dir, 'users');
    const h = await run(OUTBOX, ['serve', '--hash-password', 'alice'], { input: 's3cret\n' });
    assert.equal(h.code, 0, h.stderr);
    fs.writeFileSync(users, h.stdout, { mode: 0o600 });
    // The domain alice's sender addresses must be at (sender_login_match, default "remote").
    const conf = path.join(s.dir, 'outbox.conf');
    fs.writeFileSync(conf, 'domain = "example.test"\nhostname = "host.example.test"\n');
    const env = { ...s.env, OUTBOX_CONFIG: conf };

    const inSrv = ['ip', 'netns', 'exec', NS_SRV];
    const inCli = ['ip', 'netns', 'exec', NS_CLI];

    const noAuth = await run(inSrv[0]!, [...inSrv.slice(1), OUTBOX, 'serve', '--listen', `${SRV_IP}:2525`], { env: s.env });
    assert.equal(noAuth.code, 78, noAuth.stderr);
    assert.match(noAuth.stderr, /refusing to listen on 169\.254\.77\.1:2525 without AUTH/);

    const srv = await startServe(
      ['--listen', `${SRV_IP}:2525`, '--listen', `[${SRV_IP6}]:2525`, '--auth-users', users, '--tls-cert', pki.good.certFile, '--tls-key', pki.good.keyFile],
      env,
      inSrv,
    );
    try {
      const swaks = (...extra: string[]) => swaksTo(SRV_IP, ...extra);
      const swaksTo = (server: string, ...extra: string[]) =>
        run(inCli[0]!, [...inCli.slice(1), 'swaks', '--server', server, '--port', '2525', '--from', 'x@example.com', '--to', 'victim@example.org', ...extra], {
          timeoutMs: 20_000,
        });

      const plain = await swaks();
      assert.notEqual(plain.code, 0);
      assert.match(plain.stdout, /<[*~]\* +530 5\.7\.0 Authentication required/);
      assert.doesNotMatch(plain.stdout, /AUTH PLAIN/); // never offered in the clear

      const tlsNoAuth = await swaks('--tls');
      assert.notEqual(tlsNoAuth.code, 0);
      assert.match(tlsNoAuth.stdout, /<[*~]\* +530 5\.7\.0 Authentication required/);

      const badPw = await swaks('--tls', '--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', 'wrong');
      assert.notEqual(badPw.code, 0);
      assert.match(badPw.stdout, /535 5\.7\.8/);
      assert.equal(controls(s.spool).length, 0, 'nothing queued without AUTH');

      // Authenticated, but as someone else: the MAIL FROM must be alice's own (553 5.7.1).
      const other = await swaks('--tls', '--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', 's3cret');
      assert.notEqual(other.code, 0);
      assert.match(other.stdout, /553 5\.7\.1 Sender address rejected: <x@example\.com> is not owned by user alice/);
      assert.equal(controls(s.spool).length, 0);

      const ok = await swaks('--tls', '--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', 's3cret', '--from', 'alice@example.test');
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      const id = /queued as (\S+)/.exec(ok.stdout)![1]!;
      const recs = controls(s.spool);
      assert.deepEqual(
        recs.map((r) => r.id),
        [id],
      );
      assert.equal(recs[0]!.client, `unknown[${CLI_IP}]`);
      await srv.waitLog(new RegExp(`${id}: client=unknown\\[169\\.254\\.77\\.2\\], sasl_method=PLAIN, sasl_username=alice`));

      // The same over IPv6.
      const plain6 = await swaksTo(SRV_IP6);
      assert.notEqual(plain6.code, 0);
      assert.match(plain6.stdout, /<[*~]\* +530 5\.7\.0 Authentication required/);
      const ok6 = await swaksTo(SRV_IP6, '--tls', '--auth', 'LOGIN', '--auth-user', 'alice', '--auth-password', 's3cret', '--from', 'alice@host.example.test');
      assert.equal(ok6.code, 0, ok6.stdout + ok6.stderr);
      const id6 = /queued as (\S+)/.exec(ok6.stdout)![1]!;
      assert.equal(controls(s.spool).find((r) => r.id === id6)!.client, `unknown[${CLI_IP6}]`);
      assert.equal(controls(s.spool).length, 2);
      assert.doesNotMatch(srv.log(), /s3cret/);
    } finally {
      assert.equal(await srv.stop(), 0);
    }
  });
});
