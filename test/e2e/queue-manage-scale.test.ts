/**
 * End-to-end: big queues. mailq over thousands of messages never opens a message body (checked
 * with strace), lists every message in arrival order, and queue management selections work at
 * that size. Times are measured by bench/queue.ts, not asserted here.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run, start, MAILQ, OUTBOX, cleanEnv, tempSpool } from '../helpers/run.js';
import { generateQueue } from '../helpers/queue-gen.js';

const s = tempSpool('outbox-scale-');
after(() => s.cleanup());
const N = 2000;
const ids = generateQueue(s.spool, {
  count: N,
  each: (i) =>
    i === 7
      ? // A control record far larger than mailq's 64 KB read buffer.
        { recipients: Array.from({ length: 3000 }, (_, j) => ({ address: `big${j}@example.com`, status: 'pending' as const })) }
      : i % 10 === 0
        ? {
            attempts: 2,
            nextAttempt: Date.now() + 3_600_000,
            lastError: 'connect to smtp.example.com[192.0.2.25]:587: Connection refused',
            recipients: [{ address: `r${i}@example.com`, status: 'deferred' as const }],
          }
        : {},
});

test(`mailq with ${N} messages: every one listed in arrival order, no message body opened (strace)`, () => {
  const trace = path.join(s.dir, 'strace.out');
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=open,openat', '-o', trace, MAILQ], {
    env: cleanEnv(s.env),
    maxBuffer: 64 * 1024 * 1024,
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr.toString());
  const out = r.stdout.toString();
  const listed = [...out.matchAll(/^([0-9A-Z]{12})[ *!]/gm)].map((m) => m[1]);
  assert.deepEqual(listed, ids);
  assert.match(out, new RegExp(`-- \\d+ Kbytes in ${N} Requests\\.\\n$`));
  assert.equal((out.match(/^ {43}big\d+@example\.com$/gm) ?? []).length, 3000, 'a record over 64 KB is listed whole');
  assert.equal((out.match(/\(connect to smtp\.example\.com\[192\.0\.2\.25\]:587: Connection refused; next attempt /g) ?? []).length, N / 10);
  const opens = fs.readFileSync(trace, 'utf8').split('\n');
  const ctlOpens = opens.filter((l) => l.includes(`${s.spool}/ctl/`)).length;
  assert.ok(ctlOpens >= N, `control records opened: ${ctlOpens}`);
  assert.deepEqual(
    opens.filter((l) => l.includes(`${s.spool}/msg`)),
    [],
    'mailq opened message bodies',
  );
});

test('mailq --json: one object per line for each message', async () => {
  const r = await run(MAILQ, ['--json'], { env: s.env, timeoutMs: 60_000 });
  assert.equal(r.code, 0);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, N);
  assert.deepEqual(
    lines.map((l) => JSON.parse(l).queue_id),
    ids,
  );
});

test(`queue management over ${N} messages: hold a filter, requeue --deferred, delete --all`, async () => {
  let r = await run(OUTBOX, ['queue', 'hold', '--recipient=r1'], { env: s.env, timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  // Generated recipients are "r0.<i>@example.com"; only the deferred ones ("r<i>@", every tenth)
  // whose index starts with 1 contain "r1".
  const expectedHeld = ids.filter((_, i) => i % 10 === 0 && String(i).startsWith('1'));
  assert.equal(r.stdout.split('\n').filter(Boolean).length, expectedHeld.length);
  r = await run(MAILQ, [], { env: s.env, timeoutMs: 60_000 });
  assert.equal((r.stdout.match(/^[0-9A-Z]{12}!/gm) ?? []).length, expectedHeld.length);
  r = await run(OUTBOX, ['queue', 'requeue', '--deferred'], { env: s.env, timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split('\n').filter(Boolean).length, N / 10);
  r = await run(OUTBOX, ['queue', 'delete', '--all'], { env: s.env, timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split('\n').filter(Boolean).length, N);
  assert.deepEqual(fs.readdirSync(path.join(s.spool, 'ctl')), []);
  assert.deepEqual(fs.readdirSync(path.join(s.spool, 'msg')), []);
  assert.deepEqual(fs.readdirSync(path.join(s.spool, 'lock')), []);
  r = await run(MAILQ, [], { env: s.env });
  assert.equal(r.stdout, 'Mail queue is empty\n');
});

test('mailq | head -1: the reader leaving early ends mailq quietly with 74 (EX_IOERR), no stack trace', async () => {
  const t = tempSpool('outbox-epipe-');
  try {
    generateQueue(t.spool, { count: 3000 });
    const child = start(MAILQ, [], { env: t.env });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // Read the first chunk, then close our end, as head does after its line.
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.stdout!.destroy();
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    assert.equal(code, 74, stderr);
    assert.doesNotMatch(stderr, /Error|at .*\(/);
  } finally {
    t.cleanup();
  }
});
