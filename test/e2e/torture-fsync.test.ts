/**
 * Power loss: the fsync points, checked with strace on the built binary. Each fsync must have
 * COMPLETED before the step it protects starts (docs/reliability.md):
 *   submit:  write msg/ID -> fsync(msg/ID) -> fsync(msg/) -> write tmp record -> fsync(tmp)
 *            -> rename(tmp, ctl/ID) [commit] -> fsync(ctl/)
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
  const pending = new Map<string, string>();
  const calls: Call[] = [];
  for (const line of fs.readFileSync(out, 'utf8').split('\n')) {
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, pid, rest] = m;
    if (rest!.endsWith('<unfinished ...>')) {
      pending.set(pid!, rest!.slice(0, -'<unfinished ...>'.length));
      continue;
    }
    let text = rest!;
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(rest!);
    if (resumed) text = (pending.get(pid!) ?? `${resumed[1]}(`) + resumed[2];
    const name = /^(\w+)\(/.exec(text)?.[1];
    if (!name) continue;
    calls.push({ at: calls.length, name, text, ok: / = \d+/.test(text) && !/ = -1 /.test(text) });
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
  const open = find(calls, 'create msg/ID', ['openat', 'open'], new RegExp(`"${msg}".*O_EXCL`));
  const lastWrite = Math.max(...calls.filter((c) => WRITE.includes(c.name) && c.ok && new RegExp(`<${msg}>`).test(c.text)).map((c) => c.at));
  assert.ok(lastWrite > open, 'message bytes written');
  const syncMsg = find(calls, 'fsync(msg/ID)', FSYNC, new RegExp(`<${msg}>`), open);
  assert.ok(syncMsg > lastWrite, 'fsync(msg/ID) after the last write of the bytes');
  const syncMsgDir = find(calls, 'fsync(msg/)', FSYNC, new RegExp(`<${esc(path.join(s.spool, 'msg'))}>\\)`), syncMsg);
  const tmpOpen = find(calls, 'create tmp record', ['openat', 'open'], new RegExp(`"${esc(path.join(s.spool, 'tmp', id))}\\.`), syncMsgDir);
  const syncTmp = find(calls, 'fsync(tmp record)', FSYNC, new RegExp(`<${esc(path.join(s.spool, 'tmp', id))}\\.`), tmpOpen);
  const commit = find(calls, 'rename into ctl/ (commit)', RENAME, new RegExp(`"${esc(path.join(s.spool, 'ctl', id))}"`), syncTmp);
  find(calls, 'fsync(ctl/)', FSYNC, new RegExp(`<${esc(path.join(s.spool, 'ctl'))}>\\)`), commit);
  // Nothing was renamed into ctl/ before the message's bytes and name were durable.
  const early = calls.filter((c) => c.at < syncMsgDir && RENAME.includes(c.name) && c.text.includes('/ctl/'));
  assert.deepEqual(early, []);
});

test('queue hold (a record rewrite): fsync(tmp) before the rename over ctl/ID, then fsync(ctl/)', async () => {
  const [rec] = controls(s.spool);
  const id = rec!.id as string;
  const calls = await traced(OUTBOX, ['queue', 'hold', id], s.env);
  const syncTmp = find(calls, 'fsync(tmp record)', FSYNC, new RegExp(`<${esc(path.join(s.spool, 'tmp', id))}\\.`));
  const rename = find(calls, 'rename over ctl/ID', RENAME, new RegExp(`"${esc(path.join(s.spool, 'ctl', id))}"`));
  assert.ok(syncTmp < rename);
  find(calls, 'fsync(ctl/)', FSYNC, new RegExp(`<${esc(path.join(s.spool, 'ctl'))}>\\)`), rename);
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
    find(calls, 'fsync(ctl/)', FSYNC, new RegExp(`<${esc(path.join(s.spool, 'ctl'))}>\\)`), rename);

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
