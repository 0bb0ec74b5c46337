/** relay/env.ts relaysFor: the environment's relay joins the configuration and becomes the default (plan/routing.ts routes). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { relaysFor } from '../../../src/relay/env.js';
import { routeRecipient } from '../../../src/plan/routing.js';
import type { Config } from '../../../src/config/config.js';

const base = {
  file: null,
  system: false,
  spool: '/x',
  hostname: 'h',
  domain: 'h',
  delivery: 'background',
  maxMessageSize: 0,
  orphanGraceSeconds: 1,
  lockStaleMs: 1,
} as Config;

describe('routing', () => {
  it('the environment relay is the default', () => {
    const c = relaysFor({ ...base, relays: { main: { name: 'main', url: 'smtps://a@main' } }, defaultRelay: 'main' }, { OUTBOX_RELAY: 'smtps://u@env' });
    assert.equal(c.defaultRelay, 'env');
    assert.equal(c.relays!.env!.url, 'smtps://u@env');
    assert.deepEqual(routeRecipient(c, 's@x', 'r@y'), { relay: 'env' });
  });
  it('without a default, the first relay; without any, a configuration error', () => {
    const c = relaysFor({ ...base, relays: { a: { name: 'a', url: 'smtps://a@a' } } }, {});
    assert.deepEqual(routeRecipient(c, '', 'r@y'), { relay: 'a' });
    assert.deepEqual(routeRecipient(relaysFor(base, {}), '', 'r@y'), { relay: 'env' }, 'no relay at all: "env", which the runner reports as not configured');
  });
  it('routes by recipient domain, subdomains, sender, and hold', () => {
    const c = relaysFor(
      {
        ...base,
        relays: { a: { name: 'a', url: 'smtps://a@a' }, b: { name: 'b', url: 'smtps://b@b' } },
        defaultRelay: 'a',
        routes: [
          { recipientDomain: 'corp.example', relay: 'b' },
          { recipientDomain: '.sub.example', relay: 'b' },
          { sender: '@billing.example', relay: 'b' },
          { recipientDomain: 'frozen.example', relay: 'hold' },
        ],
      },
      {},
    );
    assert.deepEqual(routeRecipient(c, 's@x', 'r@CORP.example'), { relay: 'b' });
    assert.deepEqual(routeRecipient(c, 's@x', 'r@a.sub.example'), { relay: 'b' });
    assert.deepEqual(routeRecipient(c, 's@x', 'r@sub.example'), { relay: 'a' });
    assert.deepEqual(routeRecipient(c, 'x@billing.example', 'r@y'), { relay: 'b' });
    assert.deepEqual(routeRecipient(c, 's@x', 'r@frozen.example'), { hold: true });
    assert.deepEqual(routeRecipient(c, 's@x', 'r@other.example'), { relay: 'a' });
  });
});
