/** Unit tests of routing (src/plan/routing.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainRoute, routeRecipient } from '../../../src/plan/routing.js';
import { parseConfigText } from '../../../src/config/file.js';

const config = parseConfigText(
  't.conf',
  `[relay.main]
url = "smtps://u@main.example"
[relay.corp]
url = "smtps://u@corp.example"
[relay.shop]
url = "smtps://u@shop-provider.example"
[relay.news]
url = "smtps://u@news.example"

[[route]]
sender = "billing@shop.example"
relay = "shop"

[[route]]
domain = "corp.example"
relay = "corp"

[[route]]
domain = ".corp.example"
relay = "corp"

[[route]]
from = "@newsletter.example"
relay = "news"

[[route]]
domain = ["test.invalid", ".test.invalid"]
relay = "hold"

[[route]]
domain = "partner.example"
sender = ".ops.example"
relay = "corp"
`,
);

describe('routing', () => {
  it('exact domain and .subdomain', () => {
    assert.deepEqual(routeRecipient(config, 'me@example.com', 'a@corp.example'), { relay: 'corp' });
    assert.deepEqual(routeRecipient(config, 'me@example.com', 'a@x.y.CORP.example'), { relay: 'corp' });
    assert.deepEqual(routeRecipient(config, 'me@example.com', 'a@notcorp.example'), { relay: 'main' });
  });
  it('sender-dependent relays: envelope sender or From: domain', () => {
    assert.deepEqual(routeRecipient(config, 'billing@shop.example', 'a@corp.example'), { relay: 'shop' });
    assert.deepEqual(routeRecipient(config, 'other@shop.example', 'a@gmail.example'), { relay: 'main' });
    assert.deepEqual(routeRecipient(config, 'me@example.com', 'a@gmail.example', 'x@newsletter.example'), { relay: 'news' });
  });
  it('all conditions of a rule must match', () => {
    assert.deepEqual(routeRecipient(config, 'me@a.ops.example', 'p@partner.example'), { relay: 'corp' });
    assert.deepEqual(routeRecipient(config, 'me@example.com', 'p@partner.example'), { relay: 'main' });
  });
  it('hold routes', () => {
    assert.deepEqual(routeRecipient(config, 'me@example.com', 'x@test.invalid'), { hold: true });
    assert.deepEqual(routeRecipient(config, 'me@example.com', 'x@a.test.invalid'), { hold: true });
  });
  it('default relay: default_relay, else the first relay, else env', () => {
    assert.deepEqual(routeRecipient({ ...config, defaultRelay: 'news' }, 's@x.example', 'r@y.example'), { relay: 'news' });
    assert.deepEqual(routeRecipient({}, 's@x.example', 'r@y.example'), { relay: 'env' });
    const e = explainRoute(config, 's@x.example', 'r@corp.example');
    assert.equal(e.ruleIndex, 2);
    assert.match(e.why, /route domain corp\.example \(line 14\): relay corp/);
  });
});
