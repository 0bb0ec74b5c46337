/** Postfix-shaped log lines and where they go. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import { chooseTarget, formatDelivery, formatPickup, formatReceived, lazyLog, openLog, seconds, serviceOf } from '../../../src/log/log.js';

describe('log lines', () => {
  it('delivery lines have Postfix fields in Postfix order', () => {
    assert.equal(
      formatDelivery({
        rcpt: 'sales@example.com',
        relay: 'smtp.example.com[192.0.2.25]:587',
        delay: 10_280,
        delays: [780, 0, 0, 9500],
        dsn: '2.0.0',
        status: 'sent',
        reason: '250 2.0.0 Ok: queued as 4XYZ',
      }),
      'to=<sales@example.com>, relay=smtp.example.com[192.0.2.25]:587, delay=10, delays=0.78/0/0/9.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4XYZ)',
    );
    assert.equal(formatPickup('root@h', 412, 2), 'from=<root@h>, size=412, nrcpt=2 (queue active)');
  });
  it('seconds like Postfix', () => {
    assert.deepEqual([0, 1, 40, 1234, 17_400].map(seconds), ['0', '0.01', '0.04', '1.2', '17']);
  });
  it('stderr when it is the journal stream (JOURNAL_STREAM=dev:ino of fd 2), else syslog', () => {
    const st = fs.fstatSync(2);
    assert.equal(chooseTarget({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }, false, false), 'stderr');
    assert.equal(chooseTarget({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1}` }, false, false), 'syslog');
    assert.equal(chooseTarget({}, false, false), 'syslog');
  });
  it('under a service manager (INVOCATION_ID): stderr unless it is /dev/null', () => {
    const nul = fs.statSync('/dev/null');
    const st = fs.fstatSync(2);
    const devNull = st.isCharacterDevice() && st.rdev === nul.rdev;
    assert.equal(chooseTarget({ INVOCATION_ID: 'x' }, false, false), devNull ? 'syslog' : 'stderr');
  });
  it('stderr with -v or a terminal, syslog otherwise; OUTBOX_LOG forces', () => {
    assert.equal(chooseTarget({}, true, false), 'stderr');
    assert.equal(chooseTarget({}, false, true), 'stderr');
    assert.equal(chooseTarget({ OUTBOX_LOG: 'none' }, true, true), 'none');
    assert.equal(chooseTarget({ OUTBOX_LOG: 'syslog' }, true, false), 'syslog');
  });
});

describe('service tags (pflogsumm reads NAME/SERVICE[PID])', () => {
  it('tags each Postfix-shaped line with the service Postfix would use', () => {
    const d = formatDelivery({ rcpt: 'a@x', relay: 'r[1.2.3.4]:587', delay: 1, delays: [0, 0, 0, 0], dsn: '2.0.0', status: 'sent', reason: '250 ok' });
    assert.equal(serviceOf(d), 'smtp');
    assert.equal(serviceOf(formatPickup('s@x', 10, 1)), 'qmgr');
    assert.equal(serviceOf(formatReceived(1000, 's@x')), 'pickup');
    assert.equal(serviceOf('removed'), 'qmgr');
    assert.equal(serviceOf('sender non-delivery notification: 1M815DRF61V9'), 'bounce');
    assert.equal(serviceOf('to=<a@x>, relay=none, delay=9, dsn=5.4.7, status=expired, returned to sender'), 'qmgr');
  });
  it('writes NAME/SERVICE[PID] on stderr; an explicit service wins; a tag with a service keeps it', () => {
    const lines: string[] = [];
    const stderr = { write: (s: string) => lines.push(s) } as unknown as NodeJS.WritableStream;
    const log = openLog({ env: { OUTBOX_LOG: 'stderr' }, verbose: false, stderr });
    log.line('ID1', formatReceived(0, 'root@x'));
    log.line('ID1', 'removed');
    log.line(null, 'daemon started', 'info', 'query');
    const smtpd = openLog({ env: { OUTBOX_LOG: 'stderr' }, verbose: false, stderr, tag: 'outbox/smtpd' });
    smtpd.line(null, 'connect from localhost[127.0.0.1]');
    assert.deepEqual(lines, [
      `outbox/pickup[${process.pid}]: ID1: uid=0 from=<root@x>\n`,
      `outbox/qmgr[${process.pid}]: ID1: removed\n`,
      `outbox/query[${process.pid}]: daemon started\n`,
      `outbox/smtpd[${process.pid}]: connect from localhost[127.0.0.1]\n`,
    ]);
  });
  it('lazyLog opens the log on its first line only (the listener), and closes it only if opened', async () => {
    const lines: string[] = [];
    const stderr = { write: (s: string) => lines.push(s) } as unknown as NodeJS.WritableStream;
    let reads = 0;
    const env = {
      get OUTBOX_LOG() {
        reads++;
        return 'stderr';
      },
    } as NodeJS.ProcessEnv;
    const idle = lazyLog({ env, verbose: false, stderr, tag: 'outbox/smtpd' });
    await idle.close();
    assert.equal(reads, 0, 'never opened: the target was never chosen');
    const log = lazyLog({ env, verbose: false, stderr, tag: 'outbox/smtpd' });
    assert.equal(reads, 0);
    log.line(null, 'connect from localhost[127.0.0.1]');
    log.line('ID1', 'client=localhost[127.0.0.1]', 'warning');
    assert.equal(reads, 1, 'opened once');
    assert.equal(log.target, 'stderr');
    await log.close();
    assert.deepEqual(lines, [
      `outbox/smtpd[${process.pid}]: connect from localhost[127.0.0.1]\n`,
      `outbox/smtpd[${process.pid}]: ID1: client=localhost[127.0.0.1]\n`,
    ]);
  });
});
