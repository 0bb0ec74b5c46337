/** Unit tests: the query protocol's request parsing and proof check (queue/query.ts, query-client.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseRequest, startQueryServer, verifyProof } from '../../../src/queue/query.js';
import { spoolPaths } from '../../../src/spool/spool.js';
import type { Config } from '../../../src/config/config.js';
import { CHALLENGE_RE, proofPath } from '../../../src/queue/query-client.js';

test('a well-formed list request', () => {
  assert.deepEqual(parseRequest(JSON.stringify({ v: 2, op: 'list', json: true })), { v: 2, op: 'list', json: true });
  assert.deepEqual(parseRequest(JSON.stringify({ v: 2, op: 'list' })), { v: 2, op: 'list', json: false });
  assert.deepEqual(parseRequest(JSON.stringify({ v: 2, op: 'flush' })), { v: 2, op: 'flush', json: false });
  // A v1 token is ignored: only the proof at the challenge's name counts.
  assert.deepEqual(parseRequest(JSON.stringify({ v: 2, op: 'list', token: 'q.x' })), { v: 2, op: 'list', json: false });
});

test('refused requests', () => {
  const cases: [string, RegExp][] = [
    ['nope', /not JSON/],
    [JSON.stringify({ v: 1, op: 'list', token: `q.${'0'.repeat(32)}` }), /version/],
    [JSON.stringify({ v: 2, op: 'delete' }), /unknown operation/],
    [JSON.stringify({ v: 2, op: 'constructor' }), /unknown operation/],
    [JSON.stringify({ v: 2, op: 'queue', args: 'show' }), /bad args/],
  ];
  for (const [line, re] of cases) {
    const r = parseRequest(line);
    assert.ok('error' in r, line);
    if ('error' in r) assert.match(r.error, re);
  }
});

test('the proof: a directory only its owner may write, made after the challenge', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-proof-'));
  try {
    fs.mkdirSync(path.join(dir, 'incoming'));
    const c = '0123456789abcdef'.repeat(2);
    assert.ok(CHALLENGE_RE.test(c) && !CHALLENGE_RE.test(`${c}/x`));
    const p = proofPath(dir, c);
    assert.equal(p, path.join(dir, 'incoming', `q.${c}`));
    const t0 = Date.now();
    assert.deepEqual(await verifyProof(p, t0), { error: 'no proof at the challenge name' });
    fs.writeFileSync(p, '');
    assert.deepEqual(await verifyProof(p, t0), { error: 'the proof is a regular file, not a directory' });
    fs.unlinkSync(p);
    fs.symlinkSync(dir, p);
    assert.deepEqual(await verifyProof(p, t0), { error: 'the proof is a symbolic link, not a directory' });
    fs.unlinkSync(p);
    fs.mkdirSync(p, 0o700);
    fs.chmodSync(p, 0o770);
    assert.deepEqual(await verifyProof(p, t0), { error: 'the proof directory is writable by group or others' });
    fs.chmodSync(p, 0o702);
    assert.deepEqual(await verifyProof(p, t0), { error: 'the proof directory is writable by group or others' });
    fs.chmodSync(p, 0o755);
    assert.deepEqual(await verifyProof(p, t0), { uid: process.getuid!() });
    // Born before the challenge (statx birth time, where the filesystem keeps one).
    if (fs.statSync(p).birthtimeMs > 0) assert.deepEqual(await verifyProof(p, Date.now() + 60_000), { error: 'the proof is older than the challenge' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('no answers when incoming/ lets others rename entries (no sticky bit)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-proof-'));
  try {
    for (const d of ['incoming', 'run']) fs.mkdirSync(path.join(dir, d));
    fs.chmodSync(path.join(dir, 'incoming'), 0o733);
    const p = spoolPaths(dir);
    const log = { line: () => {} };
    await assert.rejects(startQueryServer(p, {} as Config, log), /incoming is writable by others without the sticky bit \(mode 733/);
    fs.chmodSync(path.join(dir, 'incoming'), 0o1733);
    const server = await startQueryServer(p, {} as Config, log);
    await server.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
