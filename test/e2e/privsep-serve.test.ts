/**
 * End to end: `outbox serve` started as root (issue 11 L1), on a system spool made by
 * scripts/package/mkspool.sh and owned by a runner user:
 *   - after binding, the listener runs as the spool owner, and loopback mail is recorded as that
 *     user's, never as root's;
 *   - brute force from one address over many connections: after 5 failures the address gets
 *     421 at AUTH, even with the right password, and each failure is answered later than the last;
 *   - an authenticated user may not send as someone else (sender_login_match; the default,
 *     "remote", is tested from a non-loopback address in smtp-netns.test.ts).
 * Needs root (CI runs as root).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { OUTBOX, run } from '../helpers/run.js';
import { testPki } from '../helpers/pki.js';
import { startServe, type Served } from '../helpers/serve.js';
import { Dialog } from '../helpers/smtp-dialog.js';
import { ensureUser, removeUsers, requireRoot, systemSpool, type TestUser } from '../helpers/users.js';

const USERS = ['obx-srun'];
let runner: TestUser;
let sp: ReturnType<typeof systemSpool>;
let usersFile: string;
const servers: Served[] = [];

before(async () => {
  requireRoot();
  runner = ensureUser(USERS[0]!);
  sp = systemSpool(runner);
  const h = await run(OUTBOX, ['serve', '--hash-password', 'alice'], { input: 'correct horse\n' });
  assert.equal(h.code, 0, h.stderr);
  usersFile = path.join(sp.dir, 'smtp-users');
  fs.writeFileSync(usersFile, h.stdout, { mode: 0o600 });
});

after(async () => {
  for (const s of servers) await s.stop();
  sp?.cleanup();
  removeUsers(USERS);
});

async function serve(extra: string[] = []): Promise<Served> {
  const pki = testPki();
  const srv = await startServe(
    ['--listen', '127.0.0.1:0', '--auth-users', usersFile, '--tls-cert', pki.good.certFile, '--tls-key', pki.good.keyFile, ...extra],
    sp.env,
  );
  servers.push(srv);
  return srv;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' }, () => resolve(sock));
    sock.once('error', reject);
  });
}

/** A session after EHLO + STARTTLS + EHLO, ready for AUTH. */
async function tlsSession(port: number): Promise<{ d: Dialog; close(): void }> {
  const sock = await connect(port);
  const d0 = Dialog.ofSocket(sock);
  await d0.expect(220);
  await d0.cmd('EHLO c', 250);
  await d0.cmd('STARTTLS', 220);
  const t = tls.connect({ socket: sock, ca: testPki().ca, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => t.once('secureConnect', resolve).once('error', reject));
  // 30 s per reply: the fifth failure is answered after 3.2 s on purpose (5x headroom under load).
  const d = Dialog.ofSocket(t, 30_000);
  await d.cmd('EHLO c', 250);
  return { d, close: () => t.destroy() };
}

const plain = (user: string, pw: string) => 'AUTH PLAIN ' + Buffer.from(`\0${user}\0${pw}`).toString('base64');

test("serve started as root runs as the spool owner after binding; loopback mail is the spool owner's, never root's", async () => {
  const srv = await serve();
  await srv.waitLog(/running as uid \d+ \(the spool owner\)/);
  const status = fs.readFileSync(`/proc/${srv.child.pid}/status`, 'utf8');
  const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status)!.slice(1).map(Number);
  assert.deepEqual(uids, [runner.uid, runner.uid, runner.uid, runner.uid], 'real, effective, saved and fs uid');
  const d = Dialog.ofSocket(await connect(srv.ports[0]!));
  await d.expect(220);
  d.write('EHLO c\r\nMAIL FROM:<cron@example.test>\r\nRCPT TO:<ops@example.com>\r\nDATA\r\n');
  for (const c of [250, 250, 250, 354]) await d.expect(c);
  const r = await d.cmd('Subject: loopback\r\n\r\nhi\r\n.', 250);
  const id = /queued as (\S+)/.exec(r.text)![1]!;
  await d.cmd('QUIT', 221);
  const rec = JSON.parse(fs.readFileSync(path.join(sp.spool, 'ctl', id), 'utf8'));
  assert.equal(rec.uid, runner.uid);
  assert.notEqual(rec.uid, 0);
  for (const dir of ['msg', 'ctl', 'incoming']) {
    for (const f of fs.readdirSync(path.join(sp.spool, dir))) assert.notEqual(fs.lstatSync(path.join(sp.spool, dir, f)).uid, 0, `${dir}/${f} belongs to root`);
  }
});

test('brute force over many connections from one address: 421 after 5 failures, even with the right password; growing delays', async () => {
  const srv = await serve();
  const port = srv.ports[0]!;
  const took: number[] = [];
  const fail = async (d: Dialog, code: number) => {
    const t0 = Date.now();
    await d.cmd(plain('alice', 'wrong'), code);
    took.push(Date.now() - t0);
  };
  // Three failures end a connection (the session's own limit) ...
  const a = await tlsSession(port);
  await fail(a.d, 535);
  await fail(a.d, 535);
  const third = await a.d.cmd(plain('alice', 'wrong'), 535);
  assert.match(third.text, /535 5\.7\.8/);
  a.close();
  // ... so an attacker opens another; two more failures reach the per-address limit.
  const b = await tlsSession(port);
  await fail(b.d, 535);
  await fail(b.d, 535);
  b.close();
  // Now even the right password is not checked from this address.
  const c = await tlsSession(port);
  const refused = await c.d.cmd(plain('alice', 'correct horse'), 421);
  assert.match(refused.text, /^421 4\.7\.0 .*too many authentication failures from 127\.0\.0\.1/);
  c.close();
  await srv.waitLog(/AUTH refused: Error: too many authentication failures from 127\.0\.0\.1/);
  // Delays grow: 200 ms after the first failure ... 3.2 s after the fifth (lower bounds only).
  assert.ok(took[0]! >= 150, `first failure answered after ${took[0]} ms`);
  assert.ok(took[took.length - 1]! >= 3000, `fifth failure answered after ${took[took.length - 1]} ms`);
});

test('sender_login_match = always: an authenticated user may only use their own sender address', async () => {
  const srv = await serve(['--sender-login-match', 'always']);
  const s = await tlsSession(srv.ports[0]!);
  await s.d.cmd(plain('alice', 'correct horse'), 235);
  const r = await s.d.cmd('MAIL FROM:<root@example.test>', 553);
  assert.match(r.text, /553 5\.7\.1 Sender address rejected: <root@example\.test> is not owned by user alice/);
  await s.d.cmd('MAIL FROM:<>', 553);
  await s.d.cmd('MAIL FROM:<Alice@Example.Test>', 250);
  await s.d.cmd('RSET', 250);
  await s.d.cmd('MAIL FROM:<alice@host.example.test>', 250);
  s.close();
});
