/**
 * Sending limits end to end with the built binary (issue 14 §2): a `rate = "5/s"` relay gets 20
 * messages from two `sendmail -q` runners at once (the rate is shared through the spool), no
 * faster than 5 a second as the relay sees them (the MAIL FROM times it records); a
 * `daily_messages = 2` relay keeps the third message queued, and mailq, `mailq --json` and
 * `outbox check` say why and until when; a Gmail-style quota reply pauses the relay for
 * every later queue run (one attempt, not one per message). The rolling window and the quota pause are tested
 * in-process with a moved clock (test/unit/runner/engine.test.ts).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { startRelay, type RelayOptions } from '../helpers/relay.js';
import { MAILQ, OUTBOX, SENDMAIL, controls, run, tempSpool } from '../helpers/run.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A scripted relay, a spool, and a configuration whose relay "main" has the limit `line`. */
async function setup(line: string, opts: RelayOptions = {}) {
  const relay = await startRelay(opts);
  cleanups.push(() => relay.close());
  const t = tempSpool('outbox-limits-');
  cleanups.push(() => t.cleanup());
  const pw = path.join(t.dir, 'pw');
  fs.writeFileSync(pw, 'secret\n', { mode: 0o600 });
  const conf = path.join(t.dir, 'outbox.conf');
  fs.writeFileSync(conf, `hostname = "vm.example"\n\n[relay.main]\nurl = "${relay.url()}"\npassword_file = "${pw}"\nca_file = "${relay.caFile}"\n${line}\n`);
  return { relay, t, conf, env: { ...t.env, OUTBOX_CONFIG: conf, OUTBOX_LOG: 'stderr' } };
}

describe('rate', () => {
  it('a rate = "5/s" relay takes at least 3.8 s for 20 messages from two runners, spaced at the relay', async () => {
    const { relay, t, env } = await setup('rate = "5/s"');
    const N = 20;
    for (let i = 0; i < N; i++) {
      const r = await run(SENDMAIL, ['-odq', '-i', `r${i}@example.com`], { env, input: `Subject: rate ${i}\n\nbody\n` });
      assert.equal(r.code, 0, r.stderr);
    }
    const start = Date.now();
    const runs = await Promise.all([0, 1].map(() => run(SENDMAIL, ['-q'], { env, timeoutMs: 120_000 })));
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    assert.equal(relay.received.length, N, runs.map((r) => r.stderr).join('\n'));
    assert.equal(controls(t.spool).length, 0);
    const at = relay.received.map((m) => m.mailAt!).sort((a, b) => a - b);
    // Every slot is reserved before its MAIL FROM, and the first no earlier than `start`: the
    // 20th cannot come before start + 19 intervals of 200 ms.
    assert.ok(at[N - 1]! - start >= 3800, `the 20th message came ${at[N - 1]! - start} ms after the start`);
    // Seen at the relay: no burst. Any 6 messages in a row span at least 5 intervals, less the
    // first one's session setup (generous: 600 ms of the 1000).
    for (let i = 0; i + 5 < N; i++)
      assert.ok(at[i + 5]! - at[i]! >= 400, `messages ${i}..${i + 5} within ${at[i + 5]! - at[i]!} ms: ${at.map((x) => x - start).join(',')}`);
    assert.ok(at[N - 1]! - at[0]! >= 3000, `first to last ${at[N - 1]! - at[0]!} ms`);
  });
});

describe('daily quota as the tools show it', () => {
  it('daily_messages = 2: the third message waits; mailq, mailq --json and outbox check say why', async () => {
    const { relay, t, conf, env } = await setup('daily_messages = 2');
    for (let i = 0; i < 3; i++) {
      const r = await run(SENDMAIL, ['-odq', '-i', `r${i}@example.com`], { env, input: `Subject: daily ${i}\n\nbody\n` });
      assert.equal(r.code, 0, r.stderr);
    }
    const q = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
    assert.equal(q.code, 0, q.stderr);
    assert.equal(relay.received.length, 2);
    assert.match(q.stderr, /status=deferred \(daily quota: 2 of 2 messages in 24 h sent through relay main; due at \d{4}-/);
    // A second queue run does not send it either.
    assert.equal((await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 })).code, 0);
    assert.equal(relay.received.length, 2);
    assert.equal(controls(t.spool).length, 1);

    const mq = await run(MAILQ, [], { env });
    assert.match(mq.stdout, /daily quota: 2 of 2 messages in 24 h sent through relay main; due at /);
    const j = JSON.parse((await run(MAILQ, ['--json'], { env })).stdout.trim());
    assert.equal(j.limit.kind, 'daily_quota');
    assert.equal(j.limit.relay, 'main');
    assert.ok(j.limit.due > Date.now() / 1000 + 23 * 3600, JSON.stringify(j));

    const c = await run(OUTBOX, ['check', '-C', conf, '--timeout', '3', '--ports', String(relay.port)], { env: t.env, timeoutMs: 60_000 });
    assert.match(c.stdout, /limits: 2 messages a day\n/);
    assert.match(c.stdout, /daily: 2 of 2 messages, resets in 24 h\n/, c.stdout);
  });
});

describe('quota reply', () => {
  it('550 5.4.5 pauses the relay: one attempt for 6 messages, a second queue run makes none; mailq --json and check show the pause', async () => {
    const { relay, t, conf, env } = await setup('', {
      faults: { mailFrom: '550 5.4.5 Daily user sending quota exceeded. https://support.google.com/mail/?p=SendingQuota' },
    });
    for (let i = 0; i < 6; i++) {
      const r = await run(SENDMAIL, ['-odq', '-i', `r${i}@example.com`], { env, input: `Subject: quota ${i}\n\nbody\n` });
      assert.equal(r.code, 0, r.stderr);
    }
    const q = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
    assert.equal(q.code, 0, q.stderr);
    // The connections open at once (slow start: at most 2) may each meet the reply; no more.
    const attempts = relay.mailFromTimes.length;
    assert.ok(attempts >= 1 && attempts <= 2, `${attempts} attempts:\n${q.stderr}`);
    assert.match(q.stderr, /relay main paused after a quota reply \(.*5\.4\.5.*\); due at /);
    assert.equal((await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 })).code, 0);
    assert.equal(relay.mailFromTimes.length, attempts, 'the second queue run respects the pause');
    assert.equal(controls(t.spool).length, 6, 'nothing bounced');
    const js = (await run(MAILQ, ['--json'], { env })).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(js.length, 6);
    assert.ok(
      js.every((j) => j.limit?.relay === 'main' && j.next_attempt >= Date.now() / 1000 + 3000),
      JSON.stringify(js),
    );
    assert.ok(js.filter((j) => j.limit.kind === 'paused').length >= 4);
    const c = await run(OUTBOX, ['check', '-C', conf, '--timeout', '3', '--ports', String(relay.port)], { env: t.env, timeoutMs: 60_000 });
    assert.match(c.stdout, /WARN relay main paused after a quota reply .*\(in (60 min|1 h)\)\n/, c.stdout);
    assert.match(c.stdout, /verdict main: WARN/);
  });
});
