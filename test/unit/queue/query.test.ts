/** Unit tests: the query protocol's request parsing (queue/query.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequest, TOKEN_RE } from '../../../src/queue/query.js';

const token = `q.${'0123456789abcdef'.repeat(2)}`;

test('a well-formed list request', () => {
  assert.deepEqual(parseRequest(JSON.stringify({ v: 1, op: 'list', token, json: true })), { v: 1, op: 'list', token, json: true });
  assert.deepEqual(parseRequest(JSON.stringify({ v: 1, op: 'list', token })), { v: 1, op: 'list', token, json: false });
});

test('refused requests', () => {
  const cases: [string, RegExp][] = [
    ['nope', /not JSON/],
    [JSON.stringify({ v: 2, op: 'list', token }), /version/],
    [JSON.stringify({ v: 1, op: 'delete', token }), /unknown operation/],
    [JSON.stringify({ v: 1, op: 'constructor', token }), /unknown operation/],
    [JSON.stringify({ v: 1, op: 'list', token: '../ctl/1M815FA3EF5H' }), /bad token/],
    [JSON.stringify({ v: 1, op: 'list', token: 'q.ABC' }), /bad token/],
    [JSON.stringify({ v: 1, op: 'list' }), /bad token/],
  ];
  for (const [line, re] of cases) {
    const r = parseRequest(line);
    assert.ok('error' in r, line);
    if ('error' in r) assert.match(r.error, re);
  }
  assert.ok(TOKEN_RE.test(token));
  assert.ok(!TOKEN_RE.test(`${token}/x`));
});
