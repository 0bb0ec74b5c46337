/**
 * End to end: the built `sendmail` delivers a real spool to a real SMTP relay on 127.0.0.1
 * (smtp-server with STARTTLS + AUTH and scripted faults, test/helpers/relay.ts).
 */
import { simpleParser } from 'mailparser';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { startRelay, type RelayOptions, type TestRelay } from '../helpers/relay.js';
import { relayAndSpool } from '../helpers/relay-spool.js';
import { MAILQ, OUTBOX, SENDMAIL, controls, run, sleep, start, tempSpool, type TempSpool } from '../helpers/run.js';
import { startServe } from '../helpers/serve.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Setup {
  relay: TestRelay;
  t: TempSpool;
  env: Record<string, string>;
}

async function setup(opts: RelayOptions = {}, extraEnv: Record<string, string> = {}): Promise<Setup> {
  const s = await relayAndSpool((c) => cleanups.push(c), 'outbox-deliver-', opts);
  return { relay: s.relay, t: s.t, env: { ...s.env, OUTBOX_LOG: 'stderr', ...extraEnv } };
}

const MSG = 'Subject: test\nTo: someone@example.com\n\nHello.\n';

async function queue(s: Setup, rcpts: string[], input = MSG, extra: string[] = []): Promise<string> {
  const r = await run(SENDMAIL, ['-odq', '-f', 'sender@example.com', ...extra, ...rcpts], { env: s.env, input });
  assert.equal(r.code, 0, r.stderr);
  const ids = controls(s.t.spool).map((c) => c.id as string);
  return ids[ids.length - 1]!;
}

async function queueRun(s: Setup, args: string[] = []) {
  const r = await run(SENDMAIL, ['-q', ...args], { env: s.env, timeoutMs: 30_000 });
  assert.equal(r.code, 0, `sendmail -q exited ${r.code}: ${r.stderr}`);
  return r;
}

function rcptState(s: Setup, id: string): Record<string, string> {
  const c = controls(s.t.spool).find((x) => x.id === id);
  if (!c) return {};
  return Object.fromEntries((c.recipients as { address: string; status: string }[]).map((r) => [r.address, r.status]));
}

/** The stored bytes as they must appear on the wire (after dot-unstuffing by the server). */
function wireForm(s: Setup, id: string): string {
  return fs.readFileSync(path.join(s.t.spool, 'msg', id), 'latin1').replace(/\n/g, '\r\n');
}

describe('sendmail -q against a STARTTLS + AUTH relay', () => {
  it('delivers over STARTTLS with AUTH, CRLF on the wire, dots transparent, then removes the message', async () => {
    const s = await setup();
    const body = 'Subject: dots\n\n.\n..two\n.one\nend\n';
    const id = await queue(s, ['a@example.com'], body, ['-i']);
    const stored = wireForm(s, id);
    const r = await queueRun(s);
    assert.equal(s.relay.received.length, 1);
    const m = s.relay.received[0]!;
    assert.equal(m.secure, true);
    assert.equal(m.authUser, 'outbox');
    assert.equal(m.mailFrom, 'sender@example.com');
    assert.deepEqual(m.rcptTo, ['a@example.com']);
    assert.equal(m.data.toString('latin1'), stored);
    const sess = s.relay.sessions.find((x) => x.id === m.sessionId)!;
    assert.ok(
      sess.tlsStartIndex !== undefined && !sess.commands.slice(0, sess.tlsStartIndex).some((c) => /^(AUTH|MAIL)/i.test(c)),
      'nothing but EHLO/STARTTLS in clear',
    );
    assert.deepEqual(controls(s.t.spool), []);
    assert.match(r.stderr, new RegExp(`outbox/qmgr\\[\\d+\\]: ${id}: from=<sender@example.com>, size=\\d+, nrcpt=1`));
    assert.match(
      r.stderr,
      new RegExp(
        `${id}: to=<a@example.com>, relay=localhost\\[127\\.0\\.0\\.1\\]:${s.relay.port}, delay=[\\d.]+, delays=[\\d.]+/[\\d.]+/[\\d.]+/[\\d.]+, dsn=2\\.0\\.0, status=sent \\(250 `,
      ),
    );
    assert.match(r.stderr, new RegExp(`${id}: removed`));
  });

  it('per recipient: 250 recorded at once, 550 bounced (RFC 3464, null sender), 451 deferred and retried alone', async () => {
    const s = await setup({ faults: { rcpt: { 'bad@example.com': '550 5.1.1 No such user', 'later@example.com': '451 4.3.0 Try later' } } });
    const id = await queue(s, ['ok@example.com', 'bad@example.com', 'later@example.com']);
    await queueRun(s);
    assert.deepEqual(rcptState(s, id), { 'ok@example.com': 'sent', 'bad@example.com': 'failed', 'later@example.com': 'deferred' });
    // the original to ok@, then the bounce to the sender
    assert.equal(s.relay.received.length, 2);
    assert.deepEqual(s.relay.received[0]!.rcptTo, ['ok@example.com']);
    const bounce = s.relay.received[1]!;
    assert.equal(bounce.mailFrom, '');
    assert.deepEqual(bounce.rcptTo, ['sender@example.com']);
    const text = bounce.data.toString('utf8');
    assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status/);
    assert.match(text, /Final-Recipient: rfc822; bad@example\.com\r\nAction: failed\r\nStatus: 5\.1\.1/);
    assert.doesNotMatch(text, /later@example\.com/);
    // Read as a mail reader would (mailparser, which shows the delivery-status part as text):
    // a report from MAILER-DAEMON to the sender, the status fields, and the returned original.
    const parsed = await simpleParser(bounce.data);
    assert.match(parsed.from?.text ?? '', /MAILER-DAEMON/i);
    assert.equal(parsed.to && !Array.isArray(parsed.to) ? parsed.to.text : '', 'sender@example.com');
    assert.match(parsed.text ?? '', /Final-Recipient: rfc822; bad@example\.com\nAction: failed\nStatus: 5\.1\.1/);
    const types = parsed.attachments.map((a) => a.contentType);
    assert.ok(
      types.some((t) => t === 'message/rfc822' || t === 'text/rfc822-headers'),
      `parts: ${types.join(', ')}`,
    );

    const q = await run(MAILQ, [], { env: s.env });
    assert.match(q.stdout, /451 4\.3\.0 Try later \(in reply to RCPT TO command\); next attempt/);
    assert.match(q.stdout, /^ +later@example\.com$/m);
    assert.doesNotMatch(q.stdout, /ok@example\.com|bad@example\.com/);
    const j = JSON.parse((await run(MAILQ, ['--json'], { env: s.env })).stdout.trim());
    assert.equal(j.queue_id, id);
    assert.equal(j.attempts, 1);
    assert.ok(j.next_attempt > Date.now() / 1000);
    assert.deepEqual(
      j.recipients.map((r: { address: string }) => r.address),
      ['later@example.com'],
    );
    assert.match(j.recipients[0].delay_reason, /451 4\.3\.0/);

    s.relay.setFaults({});
    await queueRun(s); // -q forces messages that are not yet due
    assert.equal(s.relay.received.length, 3);
    assert.deepEqual(s.relay.received[2]!.rcptTo, ['later@example.com'], 'accepted recipients are never sent again');
    assert.deepEqual(controls(s.t.spool), []);
  });

  it('554 at DATA bounces every recipient; a 421 greeting defers', async () => {
    const s = await setup({ faults: { greeting: '421 4.3.2 Service not available' } });
    const id = await queue(s, ['a@example.com', 'b@example.com']);
    const r = await queueRun(s);
    assert.match(r.stderr, /status=deferred \(host localhost\[127\.0\.0\.1\]:\d+ said: 421 4\.3\.2 Service not available/);
    assert.deepEqual(rcptState(s, id), { 'a@example.com': 'deferred', 'b@example.com': 'deferred' });
    s.relay.setFaults({ data: '554 5.7.1 Rejected by policy' });
    await queueRun(s);
    assert.equal(s.relay.rejected.length, 2, 'the original, then its bounce, both refused with 554');
    assert.equal(s.relay.rejected[1]!.mailFrom, '');
    assert.equal(s.relay.received.length, 0);
    // The bounce itself failed: kept on hold for the postmaster, never bounced again.
    // The original is gone (bounced); the bounce itself failed: kept on hold for the
    // postmaster, never bounced again.
    const left = controls(s.t.spool);
    assert.equal(left.length, 1);
    assert.equal(left[0]!.sender, '');
    assert.equal(left[0]!.hold, true);
    assert.notEqual(left[0]!.id, id);
  });

  it('535 at AUTH: deferred, loud in the log and mailq, no bounce, ever', async () => {
    const s = await setup({ faults: { authReply: '535 5.7.8 Authentication failed' } });
    const id = await queue(s, ['a@example.com']);
    const r = await queueRun(s);
    assert.match(r.stderr, /dsn=4\.7\.8, status=deferred .*535 5\.7\.8 Authentication failed/);
    assert.match(r.stderr, /configuration problem, the message stays queued and is not bounced: .*password/);
    const c = controls(s.t.spool);
    assert.equal(c.length, 1, 'no bounce queued');
    assert.equal(c[0]!.id, id);
    const q = await run(MAILQ, [], { env: s.env });
    assert.match(q.stdout, /535 5\.7\.8 Authentication failed.*fix: .*password/);
    assert.equal(s.relay.received.length, 0);
  });

  it('a relay URL without a user on a relay that requires AUTH: 530 deferred, no bounce', async () => {
    const s = await setup();
    s.env.OUTBOX_RELAY = `smtp+starttls://localhost:${s.relay.port}`;
    await queue(s, ['a@example.com']);
    const r = await queueRun(s);
    assert.match(r.stderr, /status=deferred .*530/);
    assert.match(r.stderr, /requires authentication/);
    assert.equal(controls(s.t.spool).length, 1, 'no bounce');
  });

  it('a world readable password file is refused with a chmod hint, and nothing is sent', async () => {
    const s = await setup();
    fs.chmodSync(s.env.OUTBOX_RELAY_PASSWORD_FILE!, 0o644);
    await queue(s, ['a@example.com']);
    const r = await queueRun(s);
    assert.match(r.stderr, /readable or writable by others \(mode 0644\): chmod 600/);
    assert.equal(s.relay.connections, 0);
    // One reason, one fix (issue 10 §5: the reason line used to repeat the whole text).
    const q = (await run(MAILQ, [], { env: s.env })).stdout;
    assert.match(q, /\(relay env: password_file: refusing \S+: it is readable or writable by others \(mode 0644\); fix: chmod 600 \S+; next attempt [^)]*\)\n/);
    assert.equal(q.match(/chmod/g)!.length, 2, `the fix once in the entry, once in the summary:\n${q}`);
  });

  it('connection dropped mid-DATA: deferred, then delivered once', async () => {
    const s = await setup({ faults: { dropMidData: true } });
    const id = await queue(s, ['a@example.com']);
    await queueRun(s);
    assert.equal(s.relay.dropped, 1);
    assert.deepEqual(rcptState(s, id), { 'a@example.com': 'deferred' });
    s.relay.setFaults({});
    await queueRun(s);
    assert.equal(s.relay.received.length, 1);
    assert.deepEqual(controls(s.t.spool), []);
  });

  for (const cert of ['expired', 'wronghost', 'selfsigned'] as const) {
    it(`${cert} certificate: deferred with a certificate hint, no AUTH sent, no bounce`, async () => {
      const s = await setup({ cert });
      await queue(s, ['a@example.com']);
      const r = await queueRun(s);
      assert.match(r.stderr, /status=deferred/);
      assert.match(r.stderr, /configuration problem.*certificate/);
      assert.equal(s.relay.authAttempts, 0);
      assert.equal(controls(s.t.spool).length, 1);
    });
  }

  it('a wrong password and 20 queued messages: one failed login in the run, QUIT after the 535, all kept', async () => {
    const s = await setup();
    fs.writeFileSync(s.env.OUTBOX_RELAY_PASSWORD_FILE!, 'wrong\n', { mode: 0o600 });
    for (let i = 0; i < 20; i++) await queue(s, [`r${i}@example.com`]);
    const r = await queueRun(s);
    assert.equal(s.relay.authAttempts, 1, r.stderr);
    assert.equal((r.stderr.match(/status=deferred/g) ?? []).length, 20);
    assert.doesNotMatch(r.stderr, /refused connection/);
    assert.equal(controls(s.t.spool).length, 20);
    const end = Date.now() + 5000;
    while (!s.relay.sessions[0]?.commands.includes('QUIT') && Date.now() < end) await sleep(20);
    assert.deepEqual(
      s.relay.sessions[0]?.commands.slice(-2).map((c) => c.split(' ')[0]),
      ['AUTH', 'QUIT'],
    );
  });

  it('an untrusted CA (no OUTBOX_RELAY_CA) is refused', async () => {
    const s = await setup();
    const env = { ...s.env };
    delete (env as Record<string, string | undefined>).OUTBOX_RELAY_CA;
    await run(SENDMAIL, ['-odq', 'a@example.com'], { env, input: MSG });
    const r = await run(SENDMAIL, ['-q'], { env });
    assert.equal(r.code, 0);
    assert.match(r.stderr, /certificate/);
    assert.equal(s.relay.authAttempts, 0);
  });

  it('STARTTLS not offered: deferred, never AUTH or MAIL in clear', async () => {
    const s = await setup({ starttls: false, authRequired: false });
    await queue(s, ['a@example.com']);
    const r = await queueRun(s);
    assert.match(r.stderr, /configuration problem.*STARTTLS/);
    assert.equal(s.relay.received.length, 0);
    for (const sess of s.relay.sessions) assert.ok(!sess.commands.some((c) => /^(AUTH|MAIL|RCPT)/i.test(c)), sess.commands.join(' | '));
  });

  it('smtps:// (implicit TLS) works', async () => {
    const s = await setup({ secure: true });
    await queue(s, ['a@example.com']);
    await queueRun(s);
    assert.equal(s.relay.received.length, 1);
    assert.equal(s.relay.received[0]!.secure, true);
  });

  it('server down, then back: deferred (connection refused), then delivered', async () => {
    const s = await setup();
    const port = s.relay.port;
    await s.relay.close();
    await queue(s, ['a@example.com', 'b@example.com']);
    await queue(s, ['c@example.com']);
    const r = await queueRun(s);
    assert.match(r.stderr, /status=deferred \(connect to localhost\[?.*:\d+: Connection refused\)/);
    assert.equal(controls(s.t.spool).length, 2);
    const back = await startRelay({ port });
    cleanups.push(() => back.close());
    await queueRun(s);
    assert.equal(back.received.length, 2);
    assert.deepEqual(controls(s.t.spool), []);
  });

  it('8-bit bodies go with BODY=8BITMIME; a 1 MB message is streamed intact', async () => {
    const s = await setup();
    const id8 = await queue(s, ['a@example.com'], 'Subject: 8bit\n\ngr\u00fc\u00dfe\n', ['-i']);
    const body = Array.from({ length: 20_000 }, (_, i) => (i % 7 === 0 ? `.line ${i} ` : `line ${i} `) + 'x'.repeat(40)).join('\n');
    const idBig = await queue(s, ['b@example.com'], `Subject: big\n\n${body}\n`, ['-i']);
    const stored8 = wireForm(s, id8);
    const storedBig = wireForm(s, idBig);
    assert.ok(storedBig.length > 1_000_000);
    await queueRun(s);
    const m8 = s.relay.received.find((m) => m.rcptTo[0] === 'a@example.com')!;
    assert.equal(m8.bodyType, '8bitmime');
    assert.equal(m8.data.toString('latin1'), stored8);
    const big = s.relay.received.find((m) => m.rcptTo[0] === 'b@example.com')!;
    assert.equal(big.data.toString('latin1'), storedBig);
  });

  it('passes DSN NOTIFY/RET/ENVID to a relay that offers DSN', async () => {
    const s = await setup({ dsn: true });
    await queue(s, ['a@example.com'], MSG, ['-N', 'failure,delay', '-R', 'hdrs', '-V', 'env-42']);
    await queueRun(s);
    const d = s.relay.received[0]!.dsn!;
    assert.equal(d.ret, 'HDRS');
    assert.equal(d.envid, 'env-42');
    assert.deepEqual(d.rcpt['a@example.com']!.notify, ['FAILURE', 'DELAY']);
  });

  it('-v prints the transcript with credentials redacted', async () => {
    const s = await setup();
    await queue(s, ['a@example.com']);
    const r = await queueRun(s, ['-v']);
    assert.match(r.stderr, /^\[env#1\] >>> AUTH PLAIN <credentials redacted>$/m);
    assert.match(r.stderr, /^\[env#1\] <<< 235 /m);
    assert.ok(!r.stderr.includes('secret'));
    assert.ok(!r.stderr.includes(Buffer.from('\0outbox\0secret').toString('base64')));
  });

  it('-q -v shows progress on a terminal only', async () => {
    const s = await setup();
    for (let i = 0; i < 3; i++) await queue(s, [`p${i}@example.com`]);
    const plain = await queueRun(s, ['-v']);
    assert.doesNotMatch(plain.stderr, /queue run: /);
    for (let i = 0; i < 3; i++) await queue(s, [`q${i}@example.com`]);
    // script(1) gives the program a pseudo-terminal; its output comes back on our stdout.
    const r = await run('script', ['-qec', `${SENDMAIL} -q -v`, '/dev/null'], { env: s.env, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /queue run: 3\/3 messages, 3 sent, 0 deferred, 0 bounced, \d+ msg\/s/);
  });

  it('-qR / -qS / -qI select messages', async () => {
    const s = await setup();
    const id1 = await queue(s, ['alice@example.com']);
    await queue(s, ['bob@example.com']);
    await queueRun(s, ['-qRalice']);
    assert.deepEqual(
      s.relay.received.map((m) => m.rcptTo[0]),
      ['alice@example.com'],
    );
    await queueRun(s, ['-qSnobody']);
    assert.equal(s.relay.received.length, 1);
    await queueRun(s, [`-qI${id1}`]);
    assert.equal(s.relay.received.length, 1);
    await queueRun(s, ['-qSsender@']);
    assert.equal(s.relay.received.length, 2);
  });

  it('two runners at once deliver every message exactly once', async () => {
    const s = await setup();
    for (let i = 0; i < 30; i++) await run(SENDMAIL, ['-odq', `r${i}@example.com`], { env: s.env, input: `Subject: ${i}\n\nbody ${i}\n` });
    const [a, b] = await Promise.all([run(SENDMAIL, ['-q'], { env: s.env, timeoutMs: 30_000 }), run(SENDMAIL, ['-q'], { env: s.env, timeoutMs: 30_000 })]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const got = s.relay.received.map((m) => m.rcptTo[0]).sort();
    assert.equal(got.length, 30);
    assert.equal(new Set(got).size, 30);
    const logins = s.relay.sessions.filter((x) => x.authUser).length;
    assert.ok(logins <= 20, `${logins} logins for 30 messages: one per connection, not per message`);
    assert.deepEqual(controls(s.t.spool), []);
  });

  it('a sender refused at MAIL FROM under PIPELINING is held with the relay\'s own reply, never bounced as "503 need MAIL command"', async () => {
    const s = await setup({ faults: { mailFrom: '553 5.7.1 <sender@example.com>: Sender address rejected: not owned by user outbox' } });
    const id = await queue(s, ['a@example.com', 'b@example.com']);
    const r = await queueRun(s);
    assert.doesNotMatch(r.stderr, /need MAIL command|status=bounced|non-delivery/, r.stderr);
    assert.match(r.stderr, /Sender address rejected/);
    const recs = controls(s.t.spool);
    assert.deepEqual(
      recs.map((c) => c.id),
      [id],
      'the message stays, and no bounce was queued',
    );
    assert.deepEqual(rcptState(s, id), { 'a@example.com': 'deferred', 'b@example.com': 'deferred' });
  });

  it('a runner killed with -9 mid-DATA loses nothing; the rerun delivers (at most one duplicate)', async () => {
    const s = await setup({ acceptDelayMs: 1500 });
    const conf = path.join(s.t.dir, 'outbox.conf');
    fs.writeFileSync(conf, 'lock_stale_ms = 2000\n');
    s.env.OUTBOX_CONFIG = conf;
    const id = await queue(s, ['a@example.com']);
    const child = start(SENDMAIL, ['-q'], { env: s.env });
    const t0 = Date.now();
    while (!s.relay.sessions.some((x) => x.commands.includes('DATA')) && Date.now() - t0 < 10_000) await sleep(10);
    await sleep(100); // the message content is on its way; the relay holds its reply
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    assert.equal(controls(s.t.spool).length, 1, 'still queued');
    assert.deepEqual(rcptState(s, id), { 'a@example.com': 'pending' });
    await sleep(3000); // the dead runner's lock goes stale (lock_stale_ms = 2000)
    await queueRun(s);
    assert.deepEqual(controls(s.t.spool), []);
    await sleep(1600);
    assert.ok(s.relay.received.length >= 1 && s.relay.received.length <= 2, `received ${s.relay.received.length}`);
  });

  it('a runner killed with -9 mid-flush: a runner started at once delivers its messages (dead holder, no staleness wait)', async () => {
    const s = await setup({ acceptDelayMs: 1500 });
    const conf = path.join(s.t.dir, 'outbox.conf');
    fs.writeFileSync(conf, 'lock_stale_ms = 600000\n'); // ten minutes: only the dead-holder rule can free the locks
    s.env.OUTBOX_CONFIG = conf;
    for (let i = 0; i < 6; i++) await queue(s, [`k${i}@example.com`]);
    const child = start(SENDMAIL, ['-q'], { env: s.env });
    const t0 = Date.now();
    while (!s.relay.sessions.some((x) => x.commands.includes('DATA')) && Date.now() - t0 < 10_000) await sleep(10);
    await sleep(100);
    const inData = s.relay.sessions.filter((x) => x.commands.includes('DATA')).length;
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    assert.ok(
      fs.readdirSync(path.join(s.t.spool, 'lock')).some((n) => n.endsWith('.lock')),
      'the dead runner left locks behind',
    );
    const r = await queueRun(s);
    assert.deepEqual(controls(s.t.spool), [], r.stderr);
    await sleep(1600); // replies the relay was still holding for the dead runner
    const got = s.relay.received.map((m) => m.rcptTo[0]!);
    assert.deepEqual(
      [...new Set(got)].sort(),
      ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'].map((k) => `${k}@example.com`),
    );
    assert.ok(got.length <= 6 + inData, `${got.length} received: duplicates only of what the dead runner had sent`);
  });
});

/** A TCP server that accepts connections and never says anything. */
async function silentServer(): Promise<{ port: number; connections(): number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((c) => {
    sockets.add(c);
    c.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const close = () =>
    new Promise<void>((r) => {
      for (const c of sockets) c.destroy();
      srv.close(() => r());
    });
  cleanups.push(close);
  return { port, connections: () => sockets.size, close };
}

/** Pids of the children of `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // exited
    }
  }
  return out;
}

describe('sendmail -odi: the exit status is the delivery outcome', () => {
  it('0 when delivered', async () => {
    const s = await setup();
    const r = await run(SENDMAIL, ['-odi', 'a@example.com'], { env: s.env, input: MSG });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(s.relay.received.length, 1);
    assert.deepEqual(controls(s.t.spool), []);
  });
  it('67 for an unknown user (and the sender gets a bounce); 75 when deferred', async () => {
    const s = await setup({ faults: { rcpt: { 'bad@example.com': '550 5.1.1 No such user', 'later@example.com': '451 4.3.0 Try later' } } });
    const r = await run(SENDMAIL, ['-odi', '-f', 'me@example.com', 'bad@example.com'], { env: s.env, input: MSG });
    assert.equal(r.code, 67, r.stderr);
    assert.match(r.stderr, /bad@example\.com.*550 5\.1\.1/);
    assert.match(r.stderr, /not delivered, the sender gets a bounce/);
    assert.equal(s.relay.received.length, 1);
    assert.equal(s.relay.received[0]!.mailFrom, '');
    const r2 = await run(SENDMAIL, ['-odi', 'later@example.com'], { env: s.env, input: MSG });
    assert.equal(r2.code, 75);
    assert.equal(controls(s.t.spool).length, 1);
  });
  for (const sig of ['SIGKILL', 'SIGTERM'] as const) {
    it(`75 and the message stays queued when the delivery child gets ${sig} while connecting to a relay that never answers`, async () => {
      const silent = await silentServer();
      const s = await setup({}, {});
      s.env.OUTBOX_RELAY = `smtp+starttls://outbox@localhost:${silent.port}`;
      const child = start(SENDMAIL, ['-odi', 'a@example.com'], { env: s.env });
      child.stdin!.end(MSG);
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      let kids: number[] = [];
      const t0 = Date.now();
      while (Date.now() - t0 < 10_000) {
        kids = childrenOf(child.pid!);
        if (kids.length > 0 && controls(s.t.spool).length === 1) break;
        await sleep(20);
      }
      assert.equal(kids.length, 1, 'the delivery child is running');
      // It is connecting once the relay has its connection (the relay never sends a greeting).
      const t1 = Date.now();
      while (silent.connections() === 0 && Date.now() - t1 < 10_000) await sleep(20);
      assert.ok(silent.connections() > 0, 'the delivery child is connecting to the relay');
      process.kill(kids[0]!, sig);
      const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
      assert.equal(code, 75, stderr);
      assert.equal(controls(s.t.spool).length, 1, 'still queued');
      assert.match(stderr, /stays queued/);
    });
  }
});

describe('relays from the configuration file', () => {
  it('[relay.NAME] with fallbacks and force_sender, [delivery] retry settings', async () => {
    const backup = await startRelay({});
    cleanups.push(() => backup.close());
    const t = tempSpool('outbox-conf-');
    cleanups.push(() => t.cleanup());
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r())); // nothing listens there now
    const pw = path.join(t.dir, 'backup.password');
    fs.writeFileSync(pw, 'secret\n', { mode: 0o600 });
    const conf = path.join(t.dir, 'outbox.conf');
    fs.writeFileSync(
      conf,
      [
        'default_relay = "main"',
        '[relay.main]',
        `url = "smtp+starttls://outbox@localhost:${deadPort}"`,
        'password = "unused"',
        'fallbacks = ["backup"]',
        '[relay.backup]',
        `url = "smtp+starttls://outbox@localhost:${backup.port}"`,
        `password_file = "${pw}"`,
        `ca_file = "${backup.caFile}"`,
        'force_sender = "account@relay.example"',
        '[delivery]',
        'retry_schedule = ["1m"]',
        'max_parallel = 2',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const env = { ...t.env, OUTBOX_CONFIG: conf, OUTBOX_LOG: 'stderr' };
    const sub = await run(SENDMAIL, ['-odq', '-f', 'app@example.com', 'a@example.com'], { env, input: 'From: App <app@example.com>\nSubject: conf\n\nhi\n' });
    assert.equal(sub.code, 0, sub.stderr);
    const r = await run(SENDMAIL, ['-q'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /relay main failed .*using fallback backup/);
    assert.equal(backup.received.length, 1, r.stderr);
    const m = backup.received[0]!;
    assert.equal(m.mailFrom, 'account@relay.example');
    assert.match(m.data.toString(), /^From: App <account@relay\.example>\r$/m);
    assert.match(m.data.toString(), /^Reply-To: .*app@example\.com/m);
    assert.deepEqual(controls(t.spool), []);
    // [delivery] retry_schedule = ["1m"]: the next attempt after a deferral is about a minute away.
    backup.setFaults({ rcpt: { 'later@example.com': '451 4.3.0 Try later' } });
    await run(SENDMAIL, ['-odq', 'later@example.com'], { env, input: 'Subject: later\n\nhi\n' });
    const before = Date.now();
    assert.equal((await run(SENDMAIL, ['-q'], { env })).code, 0);
    const next = controls(t.spool)[0]!.nextAttempt as number;
    assert.ok(next >= before + 60_000 && next <= Date.now() + 66_000, `next attempt in ${next - before} ms`);
  });
});

describe('configuration and usage errors', () => {
  it('-q with messages but no relay exits 78 and says how to configure one; an empty queue exits 0', async () => {
    const t = tempSpool('outbox-norelay-');
    cleanups.push(() => t.cleanup());
    const env = { ...t.env, OUTBOX_LOG: 'stderr' };
    assert.equal((await run(SENDMAIL, ['-q'], { env })).code, 0);
    assert.equal((await run(SENDMAIL, ['-odq', 'a@example.com'], { env, input: MSG })).code, 0);
    const r = await run(SENDMAIL, ['-q'], { env });
    assert.equal(r.code, 78);
    assert.match(r.stderr, /no relay configured: set OUTBOX_RELAY=/);
    assert.equal(controls(t.spool).length, 1);
  });
  it('outbox deliver without a queue id is a usage error (64)', async () => {
    const r = await run(OUTBOX, ['deliver'], { env: {} });
    assert.equal(r.code, 64);
    assert.equal(r.stderr, 'outbox: deliver: expected a queue id (see outbox deliver --help)\n');
  });
  it('outbox deliver and outbox pickup take -C/--config FILE like every other subcommand', async () => {
    const s = await setup();
    const cfg = path.join(s.t.dir, 'outbox.toml');
    fs.writeFileSync(cfg, `[relay.main]\nurl = "${s.relay.url()}"\npassword_file = "${s.env.OUTBOX_RELAY_PASSWORD_FILE}"\nca_file = "${s.relay.caFile}"\n`);
    const env = { ...s.t.env, OUTBOX_LOG: 'stderr' };
    const id1 = await queue(s, ['a@example.com']);
    const r1 = await run(OUTBOX, ['deliver', '--config', cfg, id1], { env, timeoutMs: 30_000 });
    assert.equal(r1.code, 0, r1.stderr);
    const id2 = await queue(s, ['b@example.com']);
    const r2 = await run(OUTBOX, ['deliver', `--config=${cfg}`, id2], { env, timeoutMs: 30_000 });
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(
      s.relay.received.map((m) => m.rcptTo[0]),
      ['a@example.com', 'b@example.com'],
    );
    assert.equal((await run(OUTBOX, ['pickup', '--config', cfg], { env })).code, 0);
    const missing = await run(OUTBOX, ['pickup', '--config', path.join(s.t.dir, 'nonexistent.toml')], { env });
    assert.equal(missing.code, 78, missing.stderr);
    assert.match(missing.stderr, /nonexistent\.toml: configuration file not found/);
    assert.equal((await run(OUTBOX, ['deliver', id2, '-C'], { env })).code, 64);
  });
  it('a relay URL with a password is refused (78) without echoing the password', async () => {
    const s = await setup();
    s.env.OUTBOX_RELAY = `smtps://outbox:hunter2@localhost:${s.relay.port}`;
    await queue(s, ['a@example.com']);
    const r = await run(SENDMAIL, ['-q'], { env: s.env });
    assert.equal(r.code, 78);
    assert.doesNotMatch(r.stderr, /hunter2/);
    assert.match(r.stderr, /OUTBOX_RELAY_PASSWORD_FILE/);
  });
});

describe('background delivery and the daemon', () => {
  it('-odb (the default) delivers in the background without delaying the submitter', async () => {
    const s = await setup();
    const r = await run(SENDMAIL, ['a@example.com'], { env: s.env, input: MSG });
    assert.equal(r.code, 0);
    await s.relay.waitFor(1, 10_000);
    const t0 = Date.now();
    while (controls(s.t.spool).length > 0 && Date.now() - t0 < 5000) await sleep(20);
    assert.deepEqual(controls(s.t.spool), []);
  });

  it('-odb: a stale run/daemon.pid naming another live program (pid reused) does not stop the kick', async () => {
    const s = await setup();
    fs.mkdirSync(path.join(s.t.spool, 'run'), { recursive: true });
    // This test process is alive but is not an Outbox daemon.
    fs.writeFileSync(path.join(s.t.spool, 'run', 'daemon.pid'), `${process.pid}\n`);
    const r = await run(SENDMAIL, ['a@example.com'], { env: s.env, input: MSG });
    assert.equal(r.code, 0, r.stderr);
    await s.relay.waitFor(1, 10_000);
    assert.deepEqual(s.relay.received[0]!.rcptTo, ['a@example.com']);
  });

  it('outbox serve: mail committed while its queue run is busy gets one more run (not lost until the next commit)', async () => {
    // The relay holds each message 1.5 s at the end of DATA, so the second message arrives
    // while the first run is still sending: that run never lists it, the rerun must send it.
    const s = await setup({ acceptDelayMs: 1500 });
    const srv = await startServe(['--listen', '127.0.0.1:0'], s.env);
    cleanups.push(() => srv.stop().then(() => undefined));
    const send = async (to: string) => {
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: srv.ports[0], secure: false, ignoreTLS: true });
      await t.sendMail({ from: 'sender@example.com', to, subject: 'listener', text: 'Hello.\n' });
      t.close();
    };
    await send('first@example.com');
    const t0 = Date.now();
    while (s.relay.mailFromTimes.length === 0 && Date.now() - t0 < 30_000) await sleep(20);
    assert.equal(s.relay.mailFromTimes.length, 1, 'the first queue run is sending');
    await send('second@example.com');
    const got = await s.relay.waitFor(2, 60_000);
    assert.deepEqual(got.map((m) => m.rcptTo).sort(), [['first@example.com'], ['second@example.com']]);
  });

  it('a burst of background submissions is delivered with a bounded number of connections', async () => {
    const s = await setup();
    // The bound is on concurrent connections (at most 4 kick slots), sampled at the relay.
    let maxOpen = 0;
    const sampler = setInterval(() => {
      maxOpen = Math.max(maxOpen, (s.relay.server as unknown as { connections: Set<unknown> }).connections.size);
    }, 2);
    await Promise.all(Array.from({ length: 20 }, (_, i) => run(SENDMAIL, [`r${i}@example.com`], { env: s.env, input: MSG })));
    await s.relay.waitFor(20, 60_000);
    const t0 = Date.now();
    while (controls(s.t.spool).length > 0 && Date.now() - t0 < 10_000) await sleep(50);
    assert.deepEqual(controls(s.t.spool), []);
    assert.equal(new Set(s.relay.received.map((m) => m.rcptTo[0])).size, 20);
    clearInterval(sampler);
    // One lingering runner takes the whole burst: its connections grow by slow start, bounded by
    // max_parallel (16), and are reused: far fewer logins than messages.
    assert.ok(maxOpen >= 1 && maxOpen <= 16, `${maxOpen} connections open at once`);
    assert.ok(s.relay.connections < 20, `${s.relay.connections} connections for 20 messages`);
  });

  /** The live runner named by run/daemon.pid, or null. */
  function runnerPid(s: Setup): number | null {
    try {
      const pid = Number(fs.readFileSync(path.join(s.t.spool, 'run', 'daemon.pid'), 'utf8').trim());
      process.kill(pid, 0);
      return pid;
    } catch {
      return null;
    }
  }

  function lingerConfig(s: Setup, linger: string): void {
    const conf = path.join(s.t.dir, 'outbox.conf');
    fs.writeFileSync(conf, `[delivery]\nlinger = "${linger}"\n`);
    s.env.OUTBOX_CONFIG = conf;
  }

  it('the kicked runner lingers: the next message goes out on the same connection, and it leaves after its window', async () => {
    const s = await setup();
    lingerConfig(s, '3s');
    assert.equal((await run(SENDMAIL, ['a@example.com'], { env: s.env, input: MSG })).code, 0);
    await s.relay.waitFor(1, 10_000);
    const pid = runnerPid(s);
    assert.ok(pid, 'a runner lingers after delivering');
    // Found as the daemon is: this submitter starts no process, the lingering runner takes it.
    assert.equal((await run(SENDMAIL, ['b@example.com'], { env: s.env, input: MSG })).code, 0);
    await s.relay.waitFor(2, 10_000);
    assert.equal(s.relay.connections, 1, 'one connection for both messages');
    assert.equal(s.relay.received[0]!.sessionId, s.relay.received[1]!.sessionId);
    assert.equal(runnerPid(s), pid, 'the same runner');
    // Bounded: gone within its window (3 s after the last message) plus scheduling slack.
    const t0 = Date.now();
    while (runnerPid(s) !== null && Date.now() - t0 < 20_000) await sleep(100);
    assert.equal(runnerPid(s), null, 'the runner left after its window');
    assert.ok(!fs.existsSync(path.join(s.t.spool, 'run', 'daemon.pid')), 'and gave up the pid file');
    assert.deepEqual(controls(s.t.spool), []);
  });

  it('two kicks at once start at most one runner', async () => {
    const s = await setup();
    lingerConfig(s, '30s');
    const id = await queue(s, ['a@example.com']);
    const a = start(OUTBOX, ['deliver', '--background', id], { env: s.env });
    const b = start(OUTBOX, ['deliver', '--background', id], { env: s.env });
    const exited: string[] = [];
    a.once('close', () => exited.push('a'));
    b.once('close', () => exited.push('b'));
    const t0 = Date.now();
    while (exited.length === 0 && Date.now() - t0 < 20_000) await sleep(50);
    assert.equal(exited.length, 1, 'one of the two left at once');
    await s.relay.waitFor(1, 10_000);
    await sleep(500);
    assert.equal(exited.length, 1, 'the other lingers');
    assert.equal(s.relay.received.length, 1, 'delivered once');
    const stay = exited[0] === 'a' ? b : a;
    stay.kill('SIGTERM');
    await new Promise((r) => (stay.exitCode !== null ? r(null) : stay.once('close', r)));
  });

  it('kill -9 of a lingering runner loses nothing: the next submission starts a new one', async () => {
    const s = await setup();
    lingerConfig(s, '30s');
    assert.equal((await run(SENDMAIL, ['a@example.com'], { env: s.env, input: MSG })).code, 0);
    await s.relay.waitFor(1, 10_000);
    const pid = runnerPid(s);
    assert.ok(pid);
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && runnerPid(s) !== null; i++) await sleep(50);
    assert.equal((await run(SENDMAIL, ['b@example.com'], { env: s.env, input: MSG })).code, 0);
    await s.relay.waitFor(2, 10_000);
    const second = runnerPid(s);
    assert.ok(second && second !== pid, 'a new runner took over');
    process.kill(second, 'SIGTERM');
    for (let i = 0; i < 100 && runnerPid(s) !== null; i++) await sleep(50);
    assert.deepEqual(controls(s.t.spool), []);
  });

  it("-odi with the daemon running: the outcome is still -odi's own (a 550 exits 67, not 0)", async () => {
    const s = await setup({ faults: { rcpt: { 'bad@example.com': '550 5.1.1 No such user' } } });
    const daemon = start(SENDMAIL, ['-bd', '-q1m'], { env: s.env });
    let err = '';
    daemon.stderr!.on('data', (d) => (err += d));
    const closed = new Promise<number | null>((res) => daemon.once('close', (c) => res(c)));
    try {
      const pidFile = path.join(s.t.spool, 'run', 'daemon.pid');
      for (let i = 0; i < 400 && !fs.existsSync(pidFile); i++) await sleep(25);
      assert.ok(fs.existsSync(pidFile), err);
      for (let i = 0; i < 3; i++) {
        const r = await run(SENDMAIL, ['-odi', 'bad@example.com'], { env: s.env, input: MSG });
        assert.equal(r.code, 67, `run ${i}: ${r.stderr}`);
        assert.match(r.stderr, /bounced/);
      }
      const ok = await run(SENDMAIL, ['-odi', 'good@example.com'], { env: s.env, input: MSG });
      assert.equal(ok.code, 0, ok.stderr);
    } finally {
      daemon.kill('SIGTERM');
      await closed;
    }
  });

  it('the daemon picks up new messages at once, retries, and stops cleanly on SIGTERM', async () => {
    const s = await setup({ faults: { rcpt: { 'later@example.com': '451 4.3.0 Try later' } } });
    // A stale pid file naming an unrelated live process (pid reused after a reboot) must not
    // stop the daemon from starting.
    fs.mkdirSync(path.join(s.t.spool, 'run'), { recursive: true });
    fs.writeFileSync(path.join(s.t.spool, 'run', 'daemon.pid'), `${process.pid}\n`);
    const daemon = start(SENDMAIL, ['-bd', '-q1m'], { env: s.env });
    let err = '';
    daemon.stderr!.on('data', (d) => (err += d));
    const pidFile = path.join(s.t.spool, 'run', 'daemon.pid');
    const t0 = Date.now();
    const pidInFile = () => (fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8').trim() : '');
    while (pidInFile() !== String(daemon.pid) && Date.now() - t0 < 10_000) await sleep(20);
    assert.equal(pidInFile(), String(daemon.pid), err);
    const second = await run(SENDMAIL, ['-bd'], { env: s.env });
    assert.equal(second.code, 75);
    assert.match(second.stderr, new RegExp(`a queue daemon is already running \\(pid ${daemon.pid}\\)`));
    const before = Date.now();
    const r = await run(SENDMAIL, ['a@example.com'], { env: s.env, input: MSG });
    assert.equal(r.code, 0);
    // At once: a kick, not the next periodic run a minute later (-q1m).
    await s.relay.waitFor(1, 30_000);
    assert.ok(Date.now() - before < 20_000);
    await run(SENDMAIL, ['later@example.com'], { env: s.env, input: MSG });
    const t1 = Date.now();
    while (!/to=<later@example\.com>.*status=deferred/.test(err) && Date.now() - t1 < 20_000) await sleep(20);
    assert.match(err, /to=<later@example\.com>.*status=deferred/);
    daemon.kill('SIGTERM');
    const code = await new Promise<number | null>((res) => daemon.once('close', (c) => res(c)));
    assert.equal(code, 0, err);
    assert.equal(fs.existsSync(pidFile), false);
    assert.equal(controls(s.t.spool).length, 1);
    assert.equal(fs.readdirSync(path.join(s.t.spool, 'lock')).filter((n) => !n.startsWith('kick')).length, 0, 'no lock left behind');
  });

  it('SIGTERM while the daemon waits for a slow relay: abandoned cleanly, nothing lost', async () => {
    // The relay holds its reply to DATA for 2 minutes; the daemon gives in-flight deliveries 5 s
    // (engine.stop(5000)) and then abandons them, so the shutdown takes about 5 s, never 2 min.
    const s = await setup({ acceptDelayMs: 120_000 });
    const daemon = start(SENDMAIL, ['-bd'], { env: s.env });
    let err = '';
    daemon.stderr!.on('data', (d) => (err += d));
    const pidFile = path.join(s.t.spool, 'run', 'daemon.pid');
    const t0 = Date.now();
    while (!fs.existsSync(pidFile) && Date.now() - t0 < 10_000) await sleep(20);
    const id = await queue(s, ['slow@example.com']);
    const t1 = Date.now();
    while (!s.relay.sessions.some((x) => x.commands.includes('DATA')) && Date.now() - t1 < 10_000) await sleep(20);
    await sleep(200);
    const t2 = Date.now();
    daemon.kill('SIGTERM');
    const code = await new Promise<number | null>((res) => daemon.once('close', (c) => res(c)));
    assert.equal(code, 0, err);
    assert.ok(Date.now() - t2 < 30_000, 'bounded shutdown');
    assert.deepEqual(rcptState(s, id), { 'slow@example.com': 'deferred' });
    assert.match(err, /daemon stopping \(SIGTERM\)/);
    assert.equal(fs.readdirSync(path.join(s.t.spool, 'lock')).length, 0, 'no lock left behind');
  });
});
