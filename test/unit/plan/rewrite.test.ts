/** Unit tests of delivery planning and sender rewriting (src/plan/rewrite.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planDelivery, rewriteSender } from '../../../src/plan/rewrite.js';
import { parseConfigText } from '../../../src/config/file.js';
import type { Config } from '../../../src/config/config.js';

const base = parseConfigText(
  't.conf',
  `masquerade = "example.com"
[relay.main]
url = "smtps://u@main.example"
[relay.gmail]
url = "smtps://u@gmail.example"
force_sender = "me@gmail.example"
[[route]]
domain = "gmail-route.example"
relay = "gmail"
[[route]]
domain = "test.invalid"
relay = "hold"
[sender_table]
"shop@vendor.example" = "Shop Me <me+shop@example.com>"
"@bank.example" = { from = "me+bank@example.com", reply_to = "me@example.com" }
`,
);
const config = { ...base, hostname: 'host.example.com', domain: 'example.com' } as Config;

const HEADER = 'Received: from x\nFrom: Root User <root@host.example.com>\nSender: root@localhost\nTo: a@b.example\nSubject: hi\n  folded\n';

describe('rewriting', () => {
  it('masquerades envelope, From: and Sender: and keeps every other byte', () => {
    const r = rewriteSender(config, 'main', 'root@host.example.com', HEADER, undefined);
    assert.equal(r.sender, 'root@example.com');
    assert.equal(r.header, 'Received: from x\nFrom: Root User <root@example.com>\nSender: root@example.com\nTo: a@b.example\nSubject: hi\n  folded\n');
    const remote = rewriteSender(config, 'main', 'me@elsewhere.example', 'From: me@elsewhere.example\n', undefined);
    assert.equal(remote.sender, 'me@elsewhere.example');
    assert.deepEqual(remote.rewrites, []);
  });

  it('force_sender rewrites envelope and From:, keeps the original in Reply-To:', () => {
    const r = rewriteSender(config, 'gmail', 'app@elsewhere.example', 'From: App <app@elsewhere.example>\nSubject: x\n', undefined);
    assert.equal(r.sender, 'me@gmail.example');
    assert.equal(r.header, 'From: App <me@gmail.example>\nSubject: x\nReply-To: App <app@elsewhere.example>\n');
  });

  it('force_sender keeps an existing Reply-To: and the null sender', () => {
    const r = rewriteSender(config, 'gmail', '', 'Reply-To: r@x.example\nFrom: app@elsewhere.example\n', undefined);
    assert.equal(r.sender, '');
    assert.equal(r.header, 'Reply-To: r@x.example\nFrom: me@gmail.example\n');
  });

  it('the sender table sets From:, envelope and Reply-To: per correspondent', () => {
    const r = rewriteSender(config, 'main', 'me@example.com', 'From: Me <me@example.com>\nReply-To: old@example.com\n', config.senderTable![1]);
    assert.equal(r.sender, 'me+bank@example.com');
    assert.equal(r.header, 'From: Me <me+bank@example.com>\nReply-To: me@example.com\n');
    const s = rewriteSender(config, 'main', 'me@example.com', 'From: me@example.com\n', config.senderTable![0]);
    assert.equal(s.header, 'From: Shop Me <me+shop@example.com>\n');
  });

  it('splits one message by relay, hold and sender table; each recipient once', () => {
    const groups = planDelivery(config, {
      sender: 'root@host.example.com',
      recipients: ['a@x.example', 'b@gmail-route.example', 'c@test.invalid', 'a@x.example', 'd@bank.example', 'e@y.example', 'shop@vendor.example'],
      header: 'From: root@host.example.com\nSubject: s\n',
    });
    assert.deepEqual(
      groups.map((g) => [g.relay ?? 'hold', g.recipients, g.sender]),
      [
        ['main', ['a@x.example', 'e@y.example'], 'root@example.com'],
        ['gmail', ['b@gmail-route.example'], 'me@gmail.example'],
        ['hold', ['c@test.invalid'], 'root@host.example.com'],
        ['main', ['d@bank.example'], 'me+bank@example.com'],
        ['main', ['shop@vendor.example'], 'me+shop@example.com'],
      ],
    );
    assert.equal(groups[1]!.header, 'From: me@gmail.example\nSubject: s\nReply-To: root@example.com\n');
  });
});

describe('the login-address rule and qualification at delivery', () => {
  const cfg = (over: string, domain = 'vm') =>
    ({
      ...parseConfigText('t.conf', `[relay.g]\nurl = "smtp+starttls://me%40gmail.example@smtp.gmail.example:587"\n${over}`),
      hostname: 'vm',
      domain,
    }) as Config;
  it('local senders (bare host, @localhost, @domain) go out as the login, the original kept in Reply-To:', () => {
    const r = rewriteSender(cfg(''), 'g', 'root@vm', 'From: Cron Daemon <root@vm>\nSubject: x\n', undefined);
    assert.equal(r.sender, 'me@gmail.example');
    assert.equal(r.header, 'From: Cron Daemon <me@gmail.example>\nSubject: x\nReply-To: Cron Daemon <root@vm>\n');
    const d = rewriteSender(cfg('', 'example.org'), 'g', 'www-data@example.org', 'From: www-data@example.org\nReply-To: help@example.org\n', undefined);
    assert.equal(d.sender, 'me@gmail.example');
    assert.equal(d.header, 'From: me@gmail.example\nReply-To: help@example.org\n');
  });
  it('other senders, the null sender and a sender_table choice are left alone; login_sender = false switches it off', () => {
    const remote = rewriteSender(cfg(''), 'g', 'bounce@shop.example', 'From: app@shop.example\n', undefined);
    assert.deepEqual([remote.sender, remote.rewrites], ['bounce@shop.example', []]);
    assert.equal(rewriteSender(cfg(''), 'g', '', 'From: a@b.example\n', undefined).sender, '');
    const off = rewriteSender(cfg('login_sender = false'), 'g', 'root@vm', 'From: root@vm\n', undefined);
    assert.deepEqual([off.sender, off.rewrites], ['root@vm', []]);
    const t = rewriteSender(cfg(''), 'g', 'root@vm', 'From: root@vm\n', { recipient: 'x@y.example', from: 'me+y@gmail.example' });
    assert.equal(t.sender, 'me+y@gmail.example');
    const masq = rewriteSender({ ...cfg(''), masquerade: 'example.org' }, 'g', 'root@vm', 'From: root@vm\n', undefined);
    assert.equal(masq.sender, 'root@example.org');
  });
  it('a local sender at a name that cannot work is qualified with a usable domain (known only to the runner)', () => {
    const c = {
      ...parseConfigText('t.conf', '[relay.p]\nurl = "smtp+starttls://outboxtest@smtp.example.net:587"\n'),
      hostname: 'vm',
      domain: 'example.org',
    } as Config;
    const r = rewriteSender(c, 'p', 'root@vm', 'From: Root <root@vm>\nSender: daemon@localhost\nTo: x@vm\n', undefined);
    assert.equal(r.sender, 'root@example.org');
    assert.equal(r.header, 'From: Root <root@example.org>\nSender: daemon@example.org\nTo: x@vm\n');
    // Debian cron's bare From: is qualified too; the comment stays.
    assert.equal(rewriteSender(c, 'p', 'root@example.org', 'From: root (Cron Daemon)\n', undefined).header, 'From: root@example.org (Cron Daemon)\n');
    // Not with an unusable domain, and never an address of another host.
    assert.deepEqual(rewriteSender({ ...c, domain: 'vm' }, 'p', 'root@vm', 'From: root@vm\n', undefined).rewrites, []);
    assert.deepEqual(rewriteSender(c, 'p', 'a@othervm', 'From: a@othervm\n', undefined).rewrites, []);
  });
});

describe('local recipients without a dot (what submission made of `root` before a domain was known)', () => {
  const vm = { ...base, hostname: 'vm' } as Config;
  const msg = {
    sender: 'cron@example.org',
    recipients: ['root@vm', 'ops@corp.example', 'admin@localhost'],
    header: 'To: root@vm, ops@corp.example\nSubject: x\n',
  };

  it('are sent as local@domain once the domain has a dot, in RCPT TO and To:, other recipients untouched', () => {
    const [g] = planDelivery({ ...vm, domain: 'example.com' }, msg).filter((x) => x.recipients.includes('root@vm'));
    assert.deepEqual(g!.recipientsAs, { 'root@vm': 'root@example.com', 'admin@localhost': 'admin@example.com' });
    assert.equal(g!.unqualified, undefined);
    assert.match(g!.header, /^To: root@example\.com, ops@corp\.example$/m);
  });

  it('are marked unqualified while the domain has no dot, and left as they are', () => {
    const [g] = planDelivery({ ...vm, domain: 'vm' }, msg).filter((x) => x.recipients.includes('root@vm'));
    assert.equal(g!.recipientsAs, undefined);
    assert.deepEqual(g!.unqualified, ['root@vm', 'admin@localhost']);
    assert.equal(g!.header, msg.header);
  });
});
