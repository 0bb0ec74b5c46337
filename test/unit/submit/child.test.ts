import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runChild, statusForParent } from '../../../src/submit/child.js';
import { EX_OSERR, EX_TEMPFAIL } from '../../../src/sysexits.js';
import { tmpdir } from 'node:os';
import { rmSync } from 'node:fs';

// Real children, really killed: the bug class Outbox exists to never have.
const node = process.execPath;

test('a child killed by SIGXFSZ (a real file size limit) is a failure (75), never 0', async () => {
  // Node itself ignores SIGXFSZ, so the child is a shell writing past `ulimit -f`.
  const file = `${tmpdir()}/outbox-xfsz-${process.pid}`;
  try {
    const o = await runChild('/bin/sh', ['-c', 'ulimit -f 1; exec head -c 100000 /dev/zero > "$0"', file]);
    assert.equal(o.kind, 'signaled');
    assert.equal((o as { signal: string }).signal, 'SIGXFSZ');
    assert.equal(statusForParent(o), EX_TEMPFAIL);
  } finally {
    rmSync(file, { force: true });
  }
});

for (const signal of ['SIGKILL', 'SIGTERM', 'SIGSEGV'] as const) {
  test(`a child killed by ${signal} is a failure (75), never 0`, async () => {
    const o = await runChild(node, ['-e', `process.kill(process.pid, '${signal}'); setTimeout(() => {}, 5000)`]);
    assert.equal(o.kind, 'signaled');
    assert.equal((o as { signal: string }).signal, signal);
    assert.ok((o as { code: number }).code > 128);
    assert.equal(statusForParent(o), EX_TEMPFAIL);
  });
}

test('a child killed from outside while it runs is a failure', async () => {
  const p = runChild(node, ['-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 200));
  // Find and kill our own child (the newest node child of this process).
  const { execFileSync } = await import('node:child_process');
  const pids = execFileSync('pgrep', ['-P', String(process.pid)], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map(Number);
  process.kill(Math.max(...pids), 'SIGKILL');
  const o = await p;
  assert.equal(o.kind, 'signaled');
  assert.equal(statusForParent(o), EX_TEMPFAIL);
});

for (const code of [0, 1, 75]) {
  test(`a child exiting ${code} reports ${code}`, async () => {
    const o = await runChild(node, ['-e', `process.exit(${code})`]);
    assert.deepEqual(o, { kind: 'exited', code });
    assert.equal(statusForParent(o), code);
  });
}

test("'error' before 'spawn' (no such program) is a failure, and no exit event is awaited", async () => {
  const o = await runChild('/nonexistent/outbox-child', []);
  assert.equal(o.kind, 'spawn-error');
  assert.equal(statusForParent(o), EX_OSERR);
});
