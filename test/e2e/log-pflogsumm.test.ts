/**
 * Our log lines read by Debian's pflogsumm, the standard Postfix log report: a real queue run
 * against the scripted relay (3 delivered, 1 deferred, 1 bounced and its bounce delivered),
 * its stderr log given syslog timestamps as syslog would, and pflogsumm --syslog-name=outbox
 * must count exactly that. (Package pflogsumm; the test command installs it.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, test } from 'node:test';
import { relayAndSpool } from '../helpers/relay-spool.js';
import { SENDMAIL, run } from '../helpers/run.js';

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** pflogsumm's "Grand Totals" counters, by name. */
function totals(report: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of report.matchAll(/^\s+(\d+)\s+(received|delivered|forwarded|deferred|bounced|rejected)\b/gm)) out[m[2]!] = Number(m[1]);
  return out;
}

test('pflogsumm counts received, delivered, deferred and bounced from our log lines', async () => {
  const faults = { rcpt: { 'later@example.com': '451 4.3.0 Try later', 'nobody@example.com': '550 5.1.1 No such user' } };
  const s = await relayAndSpool((c) => cleanups.push(c), 'outbox-pflogsumm-', { faults });
  const env = { ...s.env, OUTBOX_LOG: 'stderr' };
  for (const rcpt of ['a@example.com', 'b@example.com', 'c@example.com', 'later@example.com', 'nobody@example.com']) {
    const r = await run(SENDMAIL, ['-odq', '-f', 'sender@example.com', rcpt], { env, input: `Subject: to ${rcpt}\n\nbody\n` });
    assert.equal(r.code, 0, r.stderr);
  }
  const q = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
  assert.equal(q.code, 0, q.stderr);
  assert.match(q.stderr, /^outbox\/smtp\[\d+\]: \w+: to=<a@example\.com>, relay=.*status=sent/m);
  assert.match(q.stderr, /^outbox\/qmgr\[\d+\]: \w+: removed$/m);

  // As syslog writes them: "Mon DD HH:MM:SS host tag[pid]: text".
  const syslog = q.stderr
    .split('\n')
    .filter((l) => /^outbox\/\w+\[\d+\]: /.test(l))
    .map((l) => `Nov 28 05:00:00 testhost ${l}`)
    .join('\n');
  const p = spawnSync('pflogsumm', ['--syslog-name=outbox', '--problems-first'], { input: syslog + '\n', encoding: 'utf8', timeout: 60_000 });
  assert.equal(p.status, 0, p.stderr);
  const got = totals(p.stdout);
  // Received: the 5 submitted messages (the bounce is our own, like Postfix's, and not counted).
  // Delivered: 3, plus the bounce to sender@example.com.
  assert.deepEqual(got, { received: 5, delivered: 4, forwarded: 0, deferred: 1, bounced: 1, rejected: 0 }, p.stdout);
});
