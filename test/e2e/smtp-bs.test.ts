/**
 * `sendmail -bs`: SMTP on stdin/stdout, through the built binary with a real spool.
 * Scripted sessions (one command at a time, and pipelined), several messages per session,
 * dot-stuffed bodies, EOF in the middle of DATA, over-long lines, bad sequences, bad addresses,
 * the size limit, an unwritable spool, NUL bytes, idle timeout and the error limit.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { SENDMAIL, controls, messageText, run, sleep, start, tempSpool, type TempSpool } from '../helpers/run.js';
import { startRelay } from '../helpers/relay.js';
import { Dialog, exitOf } from '../helpers/smtp-dialog.js';

const spools: TempSpool[] = [];
after(() => spools.forEach((s) => s.cleanup()));

function spool(): TempSpool {
  const s = tempSpool('outbox-bs-');
  spools.push(s);
  return s;
}

/** MAIL FROM:<a@example.com>, RCPT TO:<b@example.com>, DATA: the usual start of a message. */
async function envelope(d: { cmd: (line: string, code: number) => Promise<unknown> }): Promise<void> {
  await d.cmd('MAIL FROM:<a@example.com>', 250);
  await d.cmd('RCPT TO:<b@example.com>', 250);
  await d.cmd('DATA', 354);
}
function bs(s: TempSpool, args: string[] = [], env: Record<string, string> = {}) {
  const child = start(SENDMAIL, ['-bs', ...args], { env: { ...s.env, ...env } });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return { child, d: Dialog.ofChild(child), stderr: () => stderr };
}

function msgFiles(s: TempSpool): string[] {
  const dir = path.join(s.spool, 'msg');
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

describe('sendmail -bs', () => {
  it('speaks SMTP one command at a time; replies 250 only once the message is committed', async () => {
    const s = spool();
    const { child, d } = bs(s);
    assert.match((await d.expect(220)).text, /^220 \S+ ESMTP Outbox/);
    const ehlo = await d.cmd('EHLO app.example', 250);
    for (const k of ['PIPELINING', '8BITMIME', 'SIZE', 'DSN', 'SMTPUTF8', 'ENHANCEDSTATUSCODES']) assert.match(ehlo.text, new RegExp(`^250[- ]${k}`, 'm'));
    assert.doesNotMatch(ehlo.text, /STARTTLS|AUTH/);
    await d.cmd('MAIL FROM:<app@example.com> BODY=8BITMIME RET=HDRS ENVID=env+2B1', 250);
    await d.cmd('RCPT TO:<a@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40example.net', 250);
    await d.cmd('RCPT TO:<root>', 250);
    await d.cmd('DATA', 354);
    d.write('Subject: first\r\nFrom: App <app@example.com>\r\n\r\n..leading dot\r\n...two\r\n.\r\n');
    const done = await d.expect(250);
    const id = /queued as ([0-9A-Z]{12})/.exec(done.text)![1]!;
    // Committed before the reply: the control record already exists when the 250 arrives.
    assert.ok(fs.existsSync(path.join(s.spool, 'ctl', id)), 'ctl/ID exists when 250 is read');

    await d.cmd('MAIL FROM:<>', 250);
    await d.cmd('RCPT TO:<b@example.org>', 250);
    await d.cmd('DATA', 354);
    d.write('Subject: second\r\n\r\nbody\r\n.\r\n');
    const id2 = /queued as ([0-9A-Z]{12})/.exec((await d.expect(250)).text)![1]!;
    await d.cmd('RSET', 250);
    await d.cmd('NOOP', 250);
    await d.cmd('VRFY root', 252);
    await d.cmd('HELP', 214);
    await d.cmd('QUIT', 221);
    assert.equal(await exitOf(child), 0);

    const recs = controls(s.spool);
    assert.equal(recs.length, 2);
    const r1 = recs.find((r) => r.id === id)!;
    assert.equal(r1.origin, 'smtp-stdio');
    assert.equal(r1.uid, process.getuid!());
    assert.equal(r1.sender, 'app@example.com');
    assert.equal(r1.body, '8BITMIME');
    assert.equal(r1.ret, 'HDRS');
    assert.equal(r1.envid, 'env+1');
    assert.deepEqual(
      r1.recipients.map((r: any) => [r.address, r.notify, r.orcpt]),
      [
        ['a@example.net', ['SUCCESS', 'FAILURE'], 'rfc822;a@example.net'],
        [`root@${r1.recipients[1].address.split('@')[1]}`, undefined, undefined],
      ],
    );
    const text = messageText(s.spool, id);
    assert.match(text, /^Received: from app\.example \(localhost, user \S+\)\n\tby \S+ \(Outbox, from userid \d+\)\n\twith ESMTP id /);
    assert.ok(text.endsWith('\n\n.leading dot\n..two\n'), JSON.stringify(text));
    const r2 = recs.find((r) => r.id === id2)!;
    assert.equal(r2.sender, '');
    assert.match(messageText(s.spool, id2), /\n\nbody\n$/);
  });

  it('handles a fully pipelined session with bare-LF lines and several messages', async () => {
    const s = spool();
    const { child, d } = bs(s);
    let script = 'EHLO pipe.example\n';
    for (let i = 0; i < 5; i++) script += `MAIL FROM:<p@example.com>\nRCPT TO:<r${i}@example.net>\nDATA\nSubject: m${i}\n\nline\n..\n.\n`;
    script += 'QUIT\n';
    d.write(script);
    const codes: number[] = [];
    for (let i = 0; i < 3 + 5 * 4; i++) codes.push((await d.reply()).code);
    assert.deepEqual(codes, [220, 250, ...Array(5).fill([250, 250, 354, 250]).flat(), 221]);
    assert.equal(await exitOf(child), 0);
    const recs = controls(s.spool);
    assert.deepEqual(
      recs.map((r) => r.recipients[0].address).sort(),
      [0, 1, 2, 3, 4].map((i) => `r${i}@example.net`),
    );
    for (const r of recs) assert.ok(messageText(s.spool, r.id).endsWith('\n\nline\n.\n'));
  });

  it('commits nothing when input ends in the middle of DATA, and keeps what was committed before', async () => {
    const s = spool();
    const { child, d } = bs(s);
    await d.expect(220);
    await d.cmd('HELO x', 250);
    await envelope(d);
    d.write('Subject: ok\r\n\r\nfine\r\n.\r\n');
    await d.expect(250);
    await envelope(d);
    d.write('Subject: cut\r\n\r\n' + 'partial line\r\n'.repeat(5000));
    child.stdin!.end();
    assert.equal(await exitOf(child), 75);
    const recs = controls(s.spool);
    assert.equal(recs.length, 1);
    assert.deepEqual(msgFiles(s), [recs[0]!.id], 'no partial message file is left');
  });

  it('refuses over-long command lines but keeps long DATA lines intact', async () => {
    const s = spool();
    const { child, d } = bs(s);
    await d.expect(220);
    await d.cmd('EHLO x', 250);
    assert.match((await d.cmd('NOOP ' + 'x'.repeat(100_000), 500)).text, /^500 5\.5\.2 /);
    await envelope(d);
    const long = 'y'.repeat(200_000);
    d.write(`Subject: long\r\n\r\n${long}\r\n.\r\n`);
    const id = /queued as (\S+)/.exec((await d.expect(250)).text)![1]!;
    await d.cmd('QUIT', 221);
    assert.equal(await exitOf(child), 0);
    assert.ok(messageText(s.spool, id).endsWith(`\n\n${long}\n`));
  });

  it('answers bad sequences with 503 and bad addresses with 501/553; SMTPUTF8 when declared', async () => {
    const s = spool();
    const { child, d } = bs(s);
    await d.expect(220);
    await d.cmd('MAIL FROM:<a@example.com>', 503);
    await d.cmd('EHLO', 501);
    await d.cmd('EHLO x', 250);
    await d.cmd('RCPT TO:<b@example.com>', 503);
    await d.cmd('DATA', 503);
    await d.cmd('MAIL FROM:<a@@example.com>', 501);
    await d.cmd('MAIL FROM:<ü@example.com>', 553);
    await d.cmd('MAIL FROM:<a@example.com> FOO=BAR', 555);
    await d.cmd('MAIL FROM:<a@example.com>', 250);
    await d.cmd('MAIL FROM:<a@example.com>', 503);
    await d.cmd('DATA', 503);
    await d.cmd('RCPT TO:<b c@example.com>', 501);
    await d.cmd('RCPT TO:<-oQ/tmp/x@example.com>', 501);
    await d.cmd('RCPT TO:<>', 501);
    await d.cmd('RCPT TO:<ü@example.com>', 553);
    await d.cmd('RSET', 250);
    await d.cmd('MAIL FROM:<a@example.com> SMTPUTF8', 250);
    await d.cmd('RCPT TO:<ü@example.com>', 250);
    await d.cmd('DATA', 354);
    d.write('Subject: =?UTF-8?Q?gr=C3=BC=C3=9Fe?=\r\n\r\ngrüße\r\n.\r\n');
    const utf8Id = /queued as (\S+)/.exec((await d.expect(250)).text)![1]!;
    await d.cmd('STARTTLS', 502);
    await d.cmd('AUTH PLAIN AGEAYg==', 503);
    await d.cmd('BDAT 10 LAST', 502);
    await d.cmd('FROB', 502);
    await d.cmd('QUIT', 221);
    assert.equal(await exitOf(child), 0);
    const recs = controls(s.spool);
    assert.deepEqual(
      recs.map((r) => [r.id, r.smtputf8, r.recipients[0].address]),
      [[utf8Id, true, 'ü@example.com']],
    );
    assert.match(messageText(s.spool, utf8Id), /\twith UTF8SMTP id /);
    const bytes = fs.readFileSync(path.join(s.spool, 'msg', utf8Id));
    assert.ok(bytes.includes(Buffer.from('for <ü@example.com>', 'utf8')), 'Received names the recipient in UTF-8');
    assert.ok(bytes.includes(Buffer.from('\n\ngrüße\n', 'utf8')));
  });

  it('refuses messages over max_message_size with 552, at MAIL (SIZE=) and after DATA', async () => {
    const s = spool();
    const conf = path.join(s.dir, 'outbox.conf');
    fs.writeFileSync(conf, 'max_message_size = 1000\n');
    const { child, d } = bs(s, ['-C', conf]);
    await d.expect(220);
    assert.match((await d.cmd('EHLO x', 250)).text, /^250-SIZE 1000$/m);
    assert.match((await d.cmd('MAIL FROM:<a@example.com> SIZE=1001', 552)).text, /552 5\.3\.4/);
    await d.cmd('MAIL FROM:<a@example.com> SIZE=900', 250);
    await d.cmd('RCPT TO:<b@example.com>', 250);
    await d.cmd('DATA', 354);
    d.write('Subject: big\r\n\r\n' + 'z'.repeat(100).concat('\r\n').repeat(50) + '.\r\n');
    assert.match((await d.expect(552)).text, /552 5\.3\.4/);
    // The session goes on: a small message still passes.
    await envelope(d);
    d.write('Subject: small\r\n\r\nok\r\n.\r\n');
    await d.expect(250);
    await d.cmd('QUIT', 221);
    assert.equal(await exitOf(child), 0);
    assert.equal(controls(s.spool).length, 1);
    assert.equal(msgFiles(s).length, 1);
  });

  it('refuses a header section over 256 KB with 552 and reads on', async () => {
    const s = spool();
    const { child, d } = bs(s);
    await d.expect(220);
    await d.cmd('EHLO x', 250);
    await envelope(d);
    d.write(('X-Filler: ' + 'f'.repeat(80) + '\r\n').repeat(4000) + '\r\nbody\r\n.\r\n');
    assert.match((await d.expect(552)).text, /^552 5\.3\.4 .*header/);
    await envelope(d);
    d.write(('X-Filler: ' + 'f'.repeat(80) + '\r\n').repeat(100) + '\r\n' + 'body\r\n'.repeat(100_000) + '.\r\n');
    await d.expect(250);
    await d.cmd('QUIT', 221);
    assert.equal(await exitOf(child), 0);
    assert.equal(controls(s.spool).length, 1);
    assert.equal(msgFiles(s).length, 1);
  });

  it('replies 451 when the spool cannot be written, and 554 for a NUL byte', async () => {
    const s = spool();
    const notADir = path.join(s.dir, 'file');
    fs.writeFileSync(notADir, '');
    const bad = bs(s, [], { OUTBOX_SPOOL: path.join(notADir, 'spool') });
    await bad.d.expect(220);
    await bad.d.cmd('HELO x', 250);
    await bad.d.cmd('MAIL FROM:<a@example.com>', 250);
    await bad.d.cmd('RCPT TO:<b@example.com>', 250);
    await bad.d.cmd('DATA', 354);
    bad.d.write('Subject: x\r\n\r\nbody\r\n.\r\n');
    assert.match((await bad.d.expect(451)).text, /^451 4\.3\.0 /);
    await bad.d.cmd('QUIT', 221);
    assert.equal(await exitOf(bad.child), 0);

    const { child, d } = bs(s);
    await d.expect(220);
    await d.cmd('HELO x', 250);
    await envelope(d);
    d.write(Buffer.from('Subject: x\r\n\r\nnul \0 here\r\n.\r\n', 'latin1'));
    assert.match((await d.expect(554)).text, /^554 5\.6\.0 .*NUL/);
    await d.cmd('QUIT', 221);
    assert.equal(await exitOf(child), 0);
    assert.equal(controls(s.spool).length, 0);
    assert.equal(msgFiles(s).length, 0);
  });

  it('drops an idle client with 421 and a client that makes too many errors', async () => {
    const s = spool();
    const idle = bs(s, [], { OUTBOX_SMTP_IDLE_TIMEOUT_MS: '300' });
    await idle.d.expect(220);
    assert.match((await idle.d.expect(421)).text, /^421 4\.4\.2 /);
    assert.equal(await exitOf(idle.child), 75);

    const noisy = bs(s);
    noisy.d.write('garbage\r\n'.repeat(100));
    const out = await noisy.d.rest();
    assert.equal((out.match(/^502 /gm) ?? []).length, 20);
    assert.match(out, /^421 4\.7\.0 .*too many errors/m);
    assert.equal(await exitOf(noisy.child), 76);
  });

  // Symfony and Laravel end the session right after the message: the background delivery that
  // the 250 promised must still start (the process may not exit before it has spawned it).
  for (const ending of ['QUIT', 'end of input']) {
    it(`a session that ends with ${ending} right after "." still gets its message delivered, without a queue run`, async () => {
      const s = spool();
      const relay = await startRelay();
      try {
        const pw = path.join(s.dir, 'password');
        fs.writeFileSync(pw, 'secret\n', { mode: 0o600 });
        const env = { ...s.env, OUTBOX_RELAY: relay.url(), OUTBOX_RELAY_PASSWORD_FILE: pw, OUTBOX_RELAY_CA: relay.caFile };
        const input =
          'EHLO app.example\r\nMAIL FROM:<app@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nSubject: bs\r\n\r\nhello\r\n.\r\n' +
          (ending === 'QUIT' ? 'QUIT\r\n' : '');
        const r = await run(SENDMAIL, ['-bs', '-i'], { env, input });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^250 2\.0\.0 Ok: queued as [0-9A-Z]{12}\r$/m);
        const got = await relay.waitFor(1, 20_000);
        assert.deepEqual(got[0]!.rcptTo, ['b@example.com']);
        for (let i = 0; i < 100 && controls(s.spool).length > 0; i++) await sleep(50);
        assert.equal(controls(s.spool).length, 0, 'delivered and removed from the queue');
      } finally {
        await relay.close();
      }
    });
  }
});
