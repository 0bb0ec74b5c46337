/**
 * Where log lines go on a host with syslog and on one without (src/log/log.ts). The test gives
 * the queue run its own /dev (an overlay over the real one, in a private mount namespace, so the
 * host's /dev is never written) with or without a /dev/log socket, whatever the host has:
 *   - with /dev/log (a small datagram listener standing in for rsyslog/journald), the lines arrive
 *     there through logger(1), facility mail, tagged outbox/SERVICE[PID], and not on stderr;
 *   - without it (a container without syslog), they go to stderr instead: nothing is lost.
 * The run is an ordinary `sendmail -q` with stderr a pipe (not a terminal) and no service manager
 * variables, so the program picks its target by itself, as under cron.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { relayAndSpool } from '../helpers/relay-spool.js';
import { SENDMAIL, run } from '../helpers/run.js';

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A syslog stand-in: binds a datagram socket at $1, appends each datagram as a line to $2, exits after $3 s. */
const LISTENER = `
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.2)
end = time.time() + float(sys.argv[3])
with open(sys.argv[2], 'ab', buffering=0) as out:
    while time.time() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        out.write(d.rstrip(b'\\n') + b'\\n')
`;

/**
 * Queue one message, then run `sendmail -q` in a private mount namespace whose /dev is an overlay
 * over the real /dev: with `withSyslog` a listener is bound at /dev/log first, else /dev/log is
 * removed (in the overlay only).
 */
async function queueRun(withSyslog: boolean) {
  const { relay, t, env } = await relayAndSpool((c) => cleanups.push(c), 'outbox-syslog-');
  const q = await run(SENDMAIL, ['-odq', '-f', 'sender@example.com', 'to@example.com'], { env, input: 'Subject: syslog\n\nbody\n' });
  assert.equal(q.code, 0, q.stderr);

  for (const d of ['upper', 'work']) fs.mkdirSync(path.join(t.dir, d));
  fs.writeFileSync(path.join(t.dir, 'listener.py'), LISTENER);
  const received = path.join(t.dir, 'received');
  fs.writeFileSync(received, '');
  const script = [
    'set -e',
    `mount -t overlay overlay -o lowerdir=/dev,upperdir="$T/upper",workdir="$T/work" /dev`,
    'rm -f /dev/log',
    withSyslog
      ? [
          // The listener lives for at most 60 s; the script waits (bounded) for its socket.
          'python3 "$T/listener.py" /dev/log "$T/received" 60 & L=$!',
          'i=0; while [ ! -S /dev/log ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done',
          '[ -S /dev/log ]',
        ].join('\n')
      : '',
    `"$SENDMAIL" -q; rc=$?`,
    // logger(1) children write on their own after we exit: give them a moment, bounded.
    withSyslog ? 'i=0; while ! grep -q "qmgr.*removed" "$T/received" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; kill $L' : '',
    'exit $rc',
  ].join('\n');
  const r = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], {
    env: { ...env, T: t.dir, SENDMAIL },
    timeoutMs: 60_000,
  });
  return { r, received: fs.readFileSync(received, 'utf8'), relay };
}

test('with a /dev/log socket, the log lines go to syslog (facility mail, outbox/SERVICE tags), not to stderr', async () => {
  const { r, received, relay } = await queueRun(true);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(relay.received.length, 1);
  // mail.info is <22> (facility 2 * 8 + severity 6), as logger(1) forwards our --prio-prefix.
  assert.match(received, /^<22>.*outbox\/smtp\[\d+\]: \w+: to=<to@example\.com>, relay=.*status=sent/m);
  assert.match(received, /^<22>.*outbox\/qmgr\[\d+\]: \w+: removed$/m);
  assert.doesNotMatch(r.stderr, /outbox\/(smtp|qmgr)\[/);
});

test('without /dev/log (a container without syslog), the same lines go to stderr', async () => {
  const { r, received, relay } = await queueRun(false);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(relay.received.length, 1);
  assert.equal(received, '');
  assert.match(r.stderr, /^outbox\/smtp\[\d+\]: \w+: to=<to@example\.com>, relay=.*status=sent/m);
  assert.match(r.stderr, /^outbox\/qmgr\[\d+\]: \w+: removed$/m);
});
