/**
 * End-to-end: the slim variant as built (build/slim/: the launcher on the system's Node,
 * docs/installation.md "Slim variant"), run in place without installing anything: the personality by link name, the
 * caller's Node settings kept out by the launcher, and the background delivery that the
 * launcher starts again (selfCommand) reaching the relay, also when run/daemon.pid names another
 * live node program (the slim runner shares its executable, node, with any node process).
 * Installed variants: install.test.ts; the container recipe: container.test.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { type TestRelay } from '../helpers/relay.js';
import { relayAndSpool } from '../helpers/relay-spool.js';
import { REPO, run } from '../helpers/run.js';

const SLIM = path.join(REPO, 'build/slim');
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(): Promise<{ relay: TestRelay; env: Record<string, string>; spool: string }> {
  const { relay, t, env } = await relayAndSpool((c) => cleanups.push(c), 'outbox-slim-');
  return { relay, spool: t.spool, env: { ...env, OUTBOX_LOG: 'none' } };
}

test('slim: the link name picks the personality; NODE_OPTIONS and Node variables of the caller change nothing and print nothing', async () => {
  const s = await setup();
  const hostile = { NODE_OPTIONS: '--require=/nonexistent.js', NODE_DEBUG: 'module', NODE_PENDING_DEPRECATION: '1', NODE_EXTRA_CA_CERTS: '/nonexistent.pem' };
  const v = await run(path.join(SLIM, 'outbox'), ['--version'], { env: { ...s.env, ...hostile } });
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^outbox \d+\.\d+\.\d+/);
  assert.equal(v.stderr, '');
  const q = await run(path.join(SLIM, 'sendmail'), ['-odq', '-f', 'app@example.com', 'someone@example.com'], {
    env: { ...s.env, ...hostile },
    input: 'Subject: slim\n\nhello\n',
  });
  assert.equal(q.code, 0, q.stderr);
  assert.equal(q.stderr, '');
  const m = await run(path.join(SLIM, 'mailq'), [], { env: { ...s.env, ...hostile } });
  assert.equal(m.code, 0, m.stderr);
  assert.equal(m.stderr, '');
  assert.match(m.stdout, /someone@example\.com/);
  assert.match(m.stdout, /-- 1 Kbytes in 1 Request\./);
  const n = await run(path.join(SLIM, 'newaliases'), [], { env: s.env });
  assert.match(n.stdout + n.stderr, /^newaliases: /m, 'newaliases answers as newaliases');
});

test('slim: the default background delivery reaches the relay, also with run/daemon.pid naming another live node program', async () => {
  const s = await setup();
  fs.mkdirSync(path.join(s.spool, 'run'), { recursive: true });
  // This test process runs on node too, but it is not an Outbox runner.
  fs.writeFileSync(path.join(s.spool, 'run', 'daemon.pid'), `${process.pid}\n`);
  const r = await run(path.join(SLIM, 'sendmail'), ['-t', '-i'], { env: s.env, input: 'To: slim@example.com\nSubject: slim kick\n\nhello\n' });
  assert.equal(r.code, 0, r.stderr);
  const got = await s.relay.waitFor(1, 30_000);
  assert.deepEqual(got[0]!.rcptTo, ['slim@example.com']);
  assert.match(got[0]!.data.toString(), /Subject: slim kick/);
});
