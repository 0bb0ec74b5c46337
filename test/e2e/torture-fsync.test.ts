/**
 * Power loss: the fsync points, checked with strace on the built binary. Each fsync must have
 * COMPLETED before the step it protects starts (docs/reliability.md):
 *   submit:  write msg/ID -> fsync(msg/ID), fsync(msg/), and write tmp record -> fsync(tmp)
 *            (these three in any order, or at once) -> rename(tmp, ctl/ID) [commit] -> fsync(ctl/)
 *   runner, deferral / queue hold: write tmp -> fsync(tmp) -> rename over ctl/ID -> fsync(ctl/)
 *   runner, delivered: unlink(ctl/ID) -> unlink(msg/ID), not fsync'd (a removal a power cut takes
 *            back is a duplicate delivery, never a loss; src/spool/spool.ts removeMessage)
 * A power cut between any two steps leaves either the old state or the new one, never a control
 * record pointing at missing or partial bytes.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SENDMAIL, OUTBOX, cleanEnv, controls, run, tempSpool } from '../helpers/run.js';
import { startRelay } from '../helpers/relay.js';
import { envFor } from '../helpers/torture.js';

const s = tempSpool('outbox-fsync-');
after(() => s.cleanup());

interface Call {
  /** Completion order. */
  at: number;
  /** Line numbers in the trace where the call started and where it completed. */
  start: number;
  end: number;
  name: string;
  text: string;
  ok: boolean;
}

/**
 * Run under strace -f -y; the file syscalls in order of completion. Asynchronous: the relay runs
 * in this process and must keep answering.
 */
async function traced(cmd: string, args: string[], env: Record<string, string>, input = ''): Promise<Call[]> {
  const out = path.join(s.dir, `strace.${Date.now()}.out`);
  const r = await run(
    'strace',
    [
      '-f',
      '-qq',
      '-y',
      '-s',
      '0',
      '-e',
      'trace=openat,open,write,pwrite64,writev,fsync,fdatasync,rename,renameat,renameat2,unlink,unlinkat',
      '-o',
      out,
      cmd,
      ...args,
    ],
    { env, input, timeoutMs: 60_000 },
  );
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  const pending = new Map<string, { text: string; start: number }>();
  const calls: Call[] = [];
  const lines = fs.readFileSync(out, 'utf8').split('\n');
  for (let n = 0; n < lines.length; n++) {
    const m = /^(\d+)\s+(.*)$/.exec(lines[n]!);
    if (!m) continue;
    const [, pid, rest] = m;
    if (rest!.endsWith('<unfinished ...>')) {
      pending.set(pid!, { text: rest!.slice(0, -'<unfinished ...>'.length), start: n });
      continue;
    }
    let text = rest!;
    let start = n;
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(rest!);
    if (resumed) {
      const began = pending.get(pid!);
      text = (began?.text ?? `${resumed[1]}(`) + resumed[2];
      start = began?.start ?? 0;
    }
    const name = /^(\w+)\(/.exec(text)?.[1];
    if (!name) continue;
    calls.push({ at: calls.length, start, end: n, name, text, ok: / = \d+/.test(text) && !/ = -1 /.test(text) });
  }
  return calls;
}

/** Index of the first successful call matching, searching from `from`; fails the test if none. */
function find(calls: Call[], what: string, names: string[], re: RegExp, from = 0): number {
  const c = calls.find((x) => x.at >= from && x.ok && names.includes(x.name) && re.test(x.text));
  assert.ok(
    c,
    `${what}: not found after call ${from}:\n${calls
      .slice(from)
      .map((x) => x.text)
      .join('\n')
      .slice(0, 3000)}`,
  );
  return c.at;
}

const esc = (p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const FSYNC = ['fsync', 'fdatasync'];
const RENAME = ['rename', 'renameat', 'renameat2'];
const UNLINK = ['unlink', 'unlinkat'];
const WRITE = ['write', 'pwrite64', 'writev'];

test('submission: message bytes and their name are on disk before the control record is renamed in', async () => {
  const calls = await traced(SENDMAIL, ['-odq', '-i', 'a@example.com'], s.env, 'Subject: fsync\n\nbody\n');
  const [rec] = controls(s.spool);
  const id = rec!.id as string;
  const msg = esc(path.join(s.spool, 'msg', id));
  const tmp = esc(path.join(s.spool, 'tmp', id));
  const open = find(calls, 'create msg/ID', ['openat', 'open'], new RegExp(`"${msg}".*O_EXCL`));
  const lastWrite = (file: string) => Math.max(...calls.filter((c) => WRITE.includes(c.name) && c.ok && new RegExp(`<${file}`).test(c.text)).map((c) => c.end));
  assert.ok(lastWrite(msg) > calls[open]!.end, 'message bytes written');
  // The three fsyncs that protect the commit, in whatever order they ran (they may overlap).
  const syncMsg = calls[find(calls, 'fsync(msg/ID)', FSYNC, new RegExp(`<${msg}>`), open)]!;
  assert.ok(syncMsg.start > lastWrite(msg), 'fsync(msg/ID) started after the last write of the bytes');
  const syncMsgDir = calls[find(calls, 'fsync(msg/)', FSYNC, new RegExp(`<${esc(path.join(s.spool, 'msg'))}>\\s*\\)`), open)]!;
  const tmpOpen = find(calls, 'create tmp record', ['openat', 'open'], new RegExp(`"${tmp}\\.`), open);
  const syncTmp = calls[find(calls, 'fsync(tmp record)', FSYNC, new RegExp(`<${tmp}\\.`), tmpOpen)]!;
  assert.ok(syncTmp.start > lastWrite(tmp), 'fsync(tmp record) started after the last write of the record');
  const commit = calls[find(calls, 'rename into ctl/ (commit)', RENAME, new RegExp(`"${esc(path.join(s.spool, 'ctl', id))}"`), open)]!;
  // The invariant: the commit starts only once all three have completed.
  for (const [what, c] of [
    ['fsync(msg/ID)', syncMsg],
    ['fsync(msg/)', syncMsgDir],
    ['fsync(tmp record)', syncTmp],
  ] as const) {
    assert.ok(commit.start > c.end, `rename into ctl/ started (trace line ${commit.start}) before ${what} completed (line ${c.end})`);
  }
  const syncCtl = calls[find(calls, 'fsync(ctl/)', FSYNC, new RegExp(`<${esc(path.join(s.spool, 'ctl'))}>\\s*\\)`), commit.at)]!;
  assert.ok(syncCtl.start > commit.end, 'fsync(ctl/) after the rename');
  // Nothing else was renamed into ctl/ before the message's bytes and name were durable.
  const durable = Math.max(syncMsg.end, syncMsgDir.end, syncTmp.end);
  const early = calls.filter((c) => c.start < durable && RENAME.includes(c.name) && c.text.includes('/ctl/'));
  assert.deepEqual(early, []);
});

test('submission: a slow fsync(msg/) holds the commit back until it has completed (strace delays it by 1 s)', async () => {
  // The overlapped fsyncs (src/spool/drop.ts queueTarget) must all be waited for: with only
  // fsync(msg/) slowed down, a rename that did not wait for it would come within milliseconds.
  const slow = tempSpool('outbox-fsync-slow-');
  try {
    const msgDir = path.join(slow.spool, 'msg');
    fs.mkdirSync(msgDir, { recursive: true, mode: 0o700 });
    const delayMs = 1000;
    // -P: only calls on msg/ itself are traced, so only its fsync is delayed.
    const r = await run(
      'strace',
      ['-f', '-qq', '-e', 'trace=fsync', '-e', `inject=fsync:delay_enter=${delayMs * 1000}`, '-P', msgDir, SENDMAIL, '-odq', '-i', 'a@example.com'],
      { env: slow.env, input: 'Subject: slow fsync\n\nbody\n', timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /fsync\(\d+\).*DELAYED/, 'the fault was injected');
    assert.equal(controls(slow.spool).length, 1);
    // msg/'s mtime: when msg/ID was created; ctl/'s: the rename (the commit). Both from the same
    // (coarse) kernel clock; a few ms of slack for its granularity.
    const held = fs.statSync(path.join(slow.spool, 'ctl')).mtimeMs - fs.statSync(msgDir).mtimeMs;
    assert.ok(held >= delayMs - 100, `committed ${held.toFixed(0)} ms after msg/ID was created: before the delayed fsync(msg/) completed`);
  } finally {
    slow.cleanup();
  }
});

test('queue hold (a record rewrite): fsync(tmp) before the rename over ctl/ID, then fsync(ctl/)', async () => {
  const [rec] = controls(s.spool);
  const id = rec!.id as string;
  const calls = await traced(OUTBOX, ['queue', 'hold', id], s.env);
  const syncTmp = find(calls, 'fsync(tmp record)', FSYNC, new RegExp(`<${esc(path.join(s.spool, 'tmp', id))}\\.`));
  const rename = find(calls, 'rename over ctl/ID', RENAME, new RegExp(`"${esc(path.join(s.spool, 'ctl', id))}"`));
  assert.ok(syncTmp < rename);
  find(calls, 'fsync(ctl/)', FSYNC, new RegExp(`<${esc(path.join(s.spool, 'ctl'))}>\\s*\\)`), rename);
  assert.equal(controls(s.spool)[0]!.hold, true);
  spawnSync(OUTBOX, ['queue', 'release', id], { env: cleanEnv(s.env) });
});

test('runner: a deferral is a durable record rewrite; a delivery removes ctl/ID before msg/ID', async () => {
  const relay = await startRelay({ faults: { rcpt: { 'a@example.com': '451 4.3.0 Try later' } } });
  try {
    const env = envFor(relay, s);
    const [rec] = controls(s.spool);
    const id = rec!.id as string;
    let calls = await traced(SENDMAIL, ['-q'], env);
    assert.equal(controls(s.spool)[0]!.recipients[0].status, 'deferred');
    const syncTmp = find(calls, 'fsync(tmp record)', FSYNC, new RegExp(`<${esc(path.join(s.spool, 'tmp', id))}\\.`));
    const rename = find(calls, 'rename over ctl/ID', RENAME, new RegExp(`"${esc(path.join(s.spool, 'ctl', id))}"`), syncTmp);
    find(calls, 'fsync(ctl/)', FSYNC, new RegExp(`<${esc(path.join(s.spool, 'ctl'))}>\\s*\\)`), rename);

    relay.setFaults({});
    calls = await traced(SENDMAIL, ['-q'], env);
    assert.equal(relay.received.length, 1);
    assert.deepEqual(controls(s.spool), []);
    // The record goes first: a committed record never names bytes that are gone.
    const unCtl = find(calls, 'unlink(ctl/ID)', UNLINK, new RegExp(`"${esc(path.join(s.spool, 'ctl', id))}"`));
    const unMsg = find(calls, 'unlink(msg/ID)', UNLINK, new RegExp(`"${esc(path.join(s.spool, 'msg', id))}"`));
    assert.ok(unCtl < unMsg, 'ctl/ID removed before msg/ID');
  } finally {
    await relay.close();
  }
});
