/**
 * End to end: routes, aliases and sender rewriting as a relay receives them. The built
 * `sendmail` queues (-odq) with a configuration file, `sendmail -q` delivers to scripted relays on
 * 127.0.0.1 (STARTTLS + AUTH), and each test checks the envelope and the header bytes received.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { SENDMAIL, controls, run, tempSpool } from '../helpers/run.js';

const t = tempSpool('outbox-config-delivery-');
let main: TestRelay;
let corp: TestRelay;
let gmail: TestRelay;
let conf: string;

before(async () => {
  main = await startRelay();
  corp = await startRelay({ users: { corpuser: 'corp-pw' } });
  gmail = await startRelay({ users: { 'me@gmail.example': 'app-pw' } });
  const pw = (name: string, v: string) => {
    const f = path.join(t.dir, name);
    fs.writeFileSync(f, v + '\n', { mode: 0o600 });
    return f;
  };
  // A relay with nothing listening: its fallback takes over.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const deadPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const aliases = path.join(t.dir, 'aliases');
  fs.writeFileSync(aliases, '# aliases\nroot: admin@example.org,\n  ops\nops: ops@corp.example\n');
  conf = path.join(t.dir, 'outbox.conf');
  fs.writeFileSync(
    conf,
    `hostname = "host.example.com"
domain = "host.example.com"
masquerade = "example.com"
aliases = "${aliases}"

[relay.main]
url = "${main.url()}"
password_file = "${pw('main.pw', 'secret')}"
ca_file = "${main.caFile}"

[relay.corp]
url = "${corp.url('corpuser')}"
password_file = "${pw('corp.pw', 'corp-pw')}"
ca_file = "${corp.caFile}"

[relay.gmail]
url = "${gmail.url('me@gmail.example')}"
password_env = "GMAIL_PW"
ca_file = "${gmail.caFile}"
force_sender = "me@gmail.example"

[relay.dead]
url = "smtp+starttls://u@localhost:${deadPort}"
password_file = "${pw('dead.pw', 'x')}"
connect_timeout = "3s"
fallbacks = ["gmail"]

[[route]]
domain = "failover.example"
relay = "dead"

[[route]]
domain = ["corp.example", ".corp.example"]
relay = "corp"

[[route]]
sender = "@shop.example"
relay = "gmail"

[[route]]
from = "@newsletter.example"
relay = "gmail"

[[route]]
domain = "test.invalid"
relay = "hold"

[sender_table]
"orders@vendor.example" = { from = "Me <me+vendor@example.com>", reply_to = "me@example.com" }
`,
  );
});
after(async () => {
  await Promise.all([main?.close(), corp?.close(), gmail?.close()]);
  t.cleanup();
});

const env = () => ({ ...t.env, OUTBOX_CONFIG: conf, GMAIL_PW: 'app-pw' });

async function send(args: string[], input: string): Promise<void> {
  const r = await run(SENDMAIL, ['-odq', '-i', ...args], { env: env(), input });
  assert.equal(r.code, 0, r.stderr);
}
async function queueRun(): Promise<string> {
  const r = await run(SENDMAIL, ['-q'], { env: { ...env(), OUTBOX_LOG: 'stderr' }, timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  return r.stderr;
}
const counts = () => [main.received.length, corp.received.length, gmail.received.length];
const headerOf = (m: { data: Buffer }) => m.data.toString('latin1').split('\r\n\r\n')[0]! + '\r\n';

describe('routes, aliases and rewriting as received by the relays', () => {
  it('one message, recipients in several routes: split, each delivered once, through its own relay; hold kept', async () => {
    const [m0, c0] = counts();
    await send(
      ['-f', 'app@elsewhere.example', 'a@remote.example', 'b@corp.example', 'c@x.corp.example', 'd@test.invalid', 'e@remote.example', 'a@REMOTE.example'],
      'From: app@elsewhere.example\nSubject: split\n\nbody\n',
    );
    await queueRun();
    assert.equal(main.received.length, m0! + 1);
    assert.equal(corp.received.length, c0! + 1);
    const m = main.received[main.received.length - 1]!;
    const c = corp.received[corp.received.length - 1]!;
    assert.deepEqual(m.rcptTo, ['a@remote.example', 'e@remote.example'], 'a@REMOTE.example is the same recipient: once');
    assert.deepEqual(c.rcptTo, ['b@corp.example', 'c@x.corp.example']);
    assert.equal(c.authUser, 'corpuser');
    // The held recipient stays queued, the others are done.
    const left = controls(t.spool).filter((x) =>
      x.recipients.some((r: { address: string; status: string }) => r.address === 'd@test.invalid' && r.status === 'pending'),
    );
    assert.equal(left.length, 1);
    assert.deepEqual(
      left[0]!.recipients.filter((r: { status: string }) => r.status === 'pending').map((r: { address: string }) => r.address),
      ['d@test.invalid'],
    );
  });

  it('aliases and this host name are expanded at submission; masquerading rewrites envelope, From: and Sender:', async () => {
    const [m0, c0] = counts();
    await send(['-f', 'root@host.example.com', 'root@host.example.com'], 'From: Root <root@host.example.com>\nSender: cron@localhost\nSubject: masq\n\nbody\n');
    await queueRun();
    const m = main.received[m0!]!;
    const c = corp.received[c0!]!;
    assert.deepEqual(m.rcptTo, ['admin@example.org']);
    assert.deepEqual(c.rcptTo, ['ops@corp.example']);
    for (const x of [m, c]) {
      assert.equal(x.mailFrom, 'root@example.com');
      const h = headerOf(x);
      assert.match(h, /\r\nFrom: Root <root@example\.com>\r\n/);
      assert.match(h, /\r\nSender: cron@example\.com\r\n/);
      assert.match(h, /\r\nSubject: masq\r\n/);
    }
  });

  it('sender-dependent relay with force_sender: envelope and From: rewritten, original From: in Reply-To:', async () => {
    const [, , g0] = counts();
    await send(['-f', 'billing@shop.example', 'customer@remote.example'], 'From: Shop Billing <billing@shop.example>\nSubject: invoice\n\nbody\n');
    await queueRun();
    const g = gmail.received[g0!]!;
    assert.equal(g.authUser, 'me@gmail.example');
    assert.equal(g.mailFrom, 'me@gmail.example');
    assert.deepEqual(g.rcptTo, ['customer@remote.example']);
    const h = headerOf(g);
    assert.match(h, /\r\nFrom: Shop Billing <me@gmail\.example>\r\n/);
    assert.match(h, /\r\nReply-To: Shop Billing <billing@shop\.example>\r\n/);
    assert.doesNotMatch(h, /From: .*billing@shop\.example/);
  });

  it('route by From: domain', async () => {
    const [, , g0] = counts();
    await send(
      ['-f', 'bounces@lists.example', 'reader@remote.example'],
      'From: News <news@newsletter.example>\nReply-To: editor@newsletter.example\nSubject: news\n\nbody\n',
    );
    await queueRun();
    const g = gmail.received[g0!]!;
    assert.deepEqual(g.rcptTo, ['reader@remote.example']);
    const h = headerOf(g);
    assert.match(h, /\r\nReply-To: editor@newsletter\.example\r\n/);
    assert.equal((h.match(/Reply-To:/g) ?? []).length, 1, 'an existing Reply-To is kept, not doubled');
  });

  it('failover: a relay that cannot be reached hands its recipients to its fallback (rewritten for that relay)', async () => {
    const [, , g0] = counts();
    await send(['-f', 'app@elsewhere.example', 'x@failover.example'], 'From: app@elsewhere.example\nSubject: failover\n\nbody\n');
    const log = await queueRun();
    assert.match(log, /relay dead failed \(.*\); using fallback gmail/);
    const g = gmail.received[g0!]!;
    assert.deepEqual(g.rcptTo, ['x@failover.example']);
    assert.equal(g.mailFrom, 'me@gmail.example');
    assert.match(headerOf(g), /\r\nFrom: me@gmail\.example\r\n/);
    assert.match(headerOf(g), /\r\nReply-To: app@elsewhere\.example\r\n/);
  });

  it('per-correspondent sender: only that recipient gets the other From:, Reply-To: and envelope', async () => {
    const m0 = main.received.length;
    await send(['-f', 'me@example.com', 'orders@vendor.example', 'friend@remote.example'], 'From: Me <me@example.com>\nSubject: order\n\nbody\n');
    await queueRun();
    const got = main.received.slice(m0);
    assert.equal(got.length, 2);
    const v = got.find((x) => x.rcptTo.includes('orders@vendor.example'))!;
    const f = got.find((x) => x.rcptTo.includes('friend@remote.example'))!;
    assert.deepEqual(v.rcptTo, ['orders@vendor.example']);
    assert.equal(v.mailFrom, 'me+vendor@example.com');
    assert.match(headerOf(v), /\r\nFrom: Me <me\+vendor@example\.com>\r\n/);
    assert.match(headerOf(v), /\r\nReply-To: me@example\.com\r\n/);
    assert.equal(f.mailFrom, 'me@example.com');
    assert.match(headerOf(f), /\r\nFrom: Me <me@example\.com>\r\n/);
    assert.doesNotMatch(headerOf(f), /Reply-To/);
  });
});
