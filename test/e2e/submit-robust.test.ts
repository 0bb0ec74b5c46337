/**
 * End-to-end robustness of submission: many concurrent submitters, submitters killed at random
 * offsets, and PHP's real mail().
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { run, start, SENDMAIL, MAILQ, controls, messageText, sleep, spoolsForFile } from '../helpers/run.js';

const spool = spoolsForFile(after);

/** Run `fn` over 0..n-1 with at most `width` at a time. */
async function pool(n: number, width: number, fn: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

test('100 concurrent submitters: 100 distinct committed messages, 0 failures', async () => {
  const s = spool();
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      run(SENDMAIL, ['-i', `r${i}@example.com`], { input: `Subject: msg ${i}\n\nbody ${i}\n`, env: s.env, timeoutMs: 60_000 }),
    ),
  );
  assert.deepEqual(
    results.filter((r) => r.code !== 0).map((r) => r.stderr),
    [],
  );
  const recs = controls(s.spool);
  assert.equal(recs.length, 100);
  assert.equal(new Set(recs.map((r) => r.id)).size, 100);
  const subjects = new Set(recs.map((r) => /^Subject: (.*)$/m.exec(messageText(s.spool, r.id))![1]));
  assert.equal(subjects.size, 100);
  const q = await run(MAILQ, [], { env: s.env });
  assert.match(q.stdout, /-- \d+ Kbytes in 100 Requests\.\n$/);
});

test('200 submitters killed at random offsets: nothing partial is ever committed', async () => {
  const s = spool();
  const body = Array.from({ length: 2000 }, (_, i) => `line ${i} ${'x'.repeat(40)}`).join('\n') + '\n';
  const message = Buffer.from(`To: a@example.com\nSubject: kill test\n\n${body}`);
  let committed = 0;
  let killedBeforeCommit = 0;
  // Calibrate: how long does one submission of this message take on this machine right now?
  // Kills after EOF are spread over 0..2x that, so some land before and some after the commit.
  // (Four at once, as in the pool below, so the figure includes the same contention.)
  const cal = await Promise.all(Array.from({ length: 4 }, () => run(SENDMAIL, ['-t', '-i'], { input: message, env: spool().env })));
  for (const c of cal) assert.equal(c.code, 0, c.stderr);
  const span = Math.max(30, Math.max(...cal.map((c) => c.ms)) * 2);
  const t0 = Date.now();
  await pool(200, 4, async (i) => {
    const child = start(SENDMAIL, ['-t', '-i'], { env: s.env });
    child.stdout!.resume();
    child.stderr!.resume();
    child.stdin!.on('error', () => {});
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    // Half the runs stop writing at a random offset and are killed with stdin still open; the
    // other half send everything and are killed at a random moment afterwards.
    const cut = Math.floor(Math.random() * message.length);
    if (i % 2 === 0) {
      child.stdin!.write(message.subarray(0, cut));
      await sleep(Math.random() * 30);
    } else {
      child.stdin!.end(message);
      await sleep(Math.random() * span);
    }
    child.kill(i % 3 === 0 ? 'SIGTERM' : 'SIGKILL');
    const r = await exited;
    if (r.code === 0) committed++;
    else killedBeforeCommit++;
  });
  const recs = controls(s.spool);
  // Every committed record points at a complete message; every exit 0 has its record.
  for (const rec of recs) {
    const text = messageText(s.spool, rec.id);
    assert.ok(text.endsWith(`\n\n${body}`), `message ${rec.id} is complete`);
    assert.equal(rec.size, Buffer.byteLength(text, 'latin1'));
  }
  assert.ok(recs.length >= committed, `${recs.length} records for ${committed} successful exits`);
  assert.equal(committed + killedBeforeCommit, 200);
  assert.ok(Date.now() - t0 < 120_000);
  // Uncommitted leftovers are only message bytes or temp files (swept later by the runner).
  const ids = new Set(recs.map((r) => r.id));
  const ctl = path.join(s.spool, 'ctl');
  for (const name of fs.existsSync(ctl) ? fs.readdirSync(ctl) : []) assert.ok(ids.has(name));
  // Both outcomes must have happened, or the test proved nothing.
  assert.ok(committed > 0, 'some submissions committed before the kill');
  assert.ok(killedBeforeCommit > 0, 'some submissions were killed before the commit');
});

test('PHP mail() through sendmail_path: returns true, message spooled right', async () => {
  const s = spool();
  const script = path.join(s.dir, 'mail.php');
  fs.writeFileSync(
    script,
    `<?php
$ok = mail('user@example.com', 'PHP test', "Hello from PHP\\nSecond line\\n", "From: web@example.com\\r\\nBcc: hidden@example.com\\r\\nX-Test: 1", '-fbounce@example.com');
echo $ok ? "true" : "false";
`,
  );
  const php = execFileSync('which', ['php'], { encoding: 'utf8' }).trim();
  const r = await run(php, ['-d', `sendmail_path=${SENDMAIL} -t -i`, script], { env: s.env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'true');
  const recs = controls(s.spool);
  assert.equal(recs.length, 1);
  const text = messageText(s.spool, recs[0]!.id);
  assert.deepEqual(recs[0]!.recipients.map((x: { address: string }) => x.address).sort(), ['hidden@example.com', 'user@example.com']);
  assert.equal(recs[0]!.sender, 'bounce@example.com');
  assert.ok(!text.includes('\r'));
  assert.ok(!/^Bcc:/im.test(text));
  assert.match(text, /^Date: /m);
  assert.match(text, /^Message-ID: /m);
  assert.match(text, /^To: user@example\.com$/m);
  assert.match(text, /^Subject: PHP test$/m);
  // PHP writes the body followed by one more newline of its own.
  assert.ok(text.endsWith('\n\nHello from PHP\nSecond line\n\n'), JSON.stringify(text.slice(-40)));
});

test('PHP mail() returns false when sendmail fails (exit status is the truth)', async () => {
  const s = spool();
  const script = path.join(s.dir, 'mail.php');
  fs.writeFileSync(script, `<?php echo mail('bad address@@x', 's', 'b') ? "true" : "false";`);
  const r = await run('php', ['-d', `sendmail_path=${SENDMAIL} -t -i`, script], { env: s.env });
  assert.equal(r.stdout, 'false');
  assert.equal(controls(s.spool).length, 0);
});

test('mailq / sendmail -bp / --json: the same queue, Postfix layout', async () => {
  const s = spool();
  let q = await run(MAILQ, [], { env: s.env });
  assert.equal(q.code, 0);
  assert.equal(q.stdout, 'Mail queue is empty\n');
  await run(SENDMAIL, ['-i', '-f', 'root@example.com', 'admin@example.com', 'ops@example.com'], {
    input: 'Subject: x\n\n' + 'a'.repeat(3000) + '\n',
    env: s.env,
  });
  q = await run(MAILQ, [], { env: s.env });
  const bp = await run(SENDMAIL, ['-bp'], { env: s.env });
  assert.equal(bp.stdout, q.stdout);
  const lines = q.stdout.split('\n');
  assert.equal(lines[0], '-Queue ID-   --Size-- ----Arrival Time---- -Sender/Recipient-------');
  assert.match(lines[1]!, /^[0-9A-Z]{12}  +\d+ [A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d  root@example\.com$/);
  assert.equal(lines[2], ' '.repeat(43) + 'admin@example.com');
  assert.equal(lines[3], ' '.repeat(43) + 'ops@example.com');
  assert.equal(lines[4], '');
  // The total rounds up, as Postfix's: 3,000-odd bytes are 4 Kbytes, not 3.
  const size = Number(lines[1]!.slice(13, 21));
  assert.ok(size > 3072 && size < 4096, `size ${size}`);
  assert.equal(lines[5], '-- 4 Kbytes in 1 Request.');
  const j = await run(MAILQ, ['--json'], { env: s.env });
  const obj = JSON.parse(j.stdout.trim());
  assert.equal(obj.sender, 'root@example.com');
  assert.deepEqual(
    obj.recipients.map((r: { address: string }) => r.address),
    ['admin@example.com', 'ops@example.com'],
  );
  assert.ok(obj.message_size > 3000);
});
