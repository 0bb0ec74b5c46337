/** Unit tests of delivery planning and sender rewriting (src/config/rewrite.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planDelivery, rewriteSender } from '../../../src/config/rewrite.js';
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
