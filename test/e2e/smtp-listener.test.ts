/**
 * `outbox serve`: the SMTP listener, through the built binary, with swaks and nodemailer as
 * clients on 127.0.0.1 / ::1. Loopback-only without AUTH, STARTTLS + AUTH with a users file,
 * the concurrency limit, the idle timeout, malformed input, STARTTLS command injection.
 * (Relay attempts from a non-loopback address: smtp-netns.test.ts; 200 clients: smtp-load.test.ts.)
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { after, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { OUTBOX, controls, messageText, run, tempSpool, type TempSpool } from '../helpers/run.js';
import { testPki } from '../helpers/pki.js';
import { startServe, type Served } from '../helpers/serve.js';
import { Dialog } from '../helpers/smtp-dialog.js';

const spools: TempSpool[] = [];
const servers: Served[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  spools.forEach((s) => s.cleanup());
});

function spool(): TempSpool {
  const s = tempSpool('outbox-serve-');
  spools.push(s);
  return s;
}

async function serve(s: TempSpool, args: string[]): Promise<Served> {
  const srv = await startServe(args, s.env);
  servers.push(srv);
  return srv;
}

function connect(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host }, () => resolve(sock));
    sock.once('error', reject);
  });
}

async function usersFile(s: TempSpool, user: string, password: string): Promise<string> {
  const r = await run(OUTBOX, ['serve', '--hash-password', user], { input: password + '\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^${user}:scrypt\\$16384\\$8\\$1\\$\\S+\\$\\S+\\n$`));
  assert.ok(!r.stdout.includes(password));
  const f = path.join(s.dir, 'users');
  fs.writeFileSync(f, '# test users\n' + r.stdout, { mode: 0o600 });
  return f;
}

describe('outbox serve', () => {
  it('accepts mail from swaks (pipelined) and nodemailer on 127.0.0.1 and ::1, and logs client=', async () => {
    const s = spool();
    const srv = await serve(s, ['--listen', '127.0.0.1:0', '--listen', '[::1]:0']);
    const [p4, p6] = srv.ports;
    const sw = await run(
      'swaks',
      [
        '--server',
        '127.0.0.1',
        '--port',
        String(p4),
        '--from',
        'sw@example.com',
        '--to',
        'one@example.net,two@example.net',
        '--pipeline',
        '--header',
        'Subject: from swaks',
        '--body',
        'swaks body\n.\nafter a dot line',
      ],
      {},
    );
    assert.equal(sw.code, 0, sw.stdout + sw.stderr);
    const swId = /queued as (\S+)/.exec(sw.stdout)![1]!;

    const t = nodemailer.createTransport({ host: '::1', port: p6, secure: false, ignoreTLS: true });
    const info = await t.sendMail({ from: 'nm@example.com', to: 'x@example.org', subject: 'from nodemailer', text: 'hello\n..\n' });
    t.close();
    const nmId = /queued as (\S+)/.exec(info.response)![1]!;

    const recs = controls(s.spool);
    assert.deepEqual(recs.map((r) => r.id).sort(), [swId, nmId].sort());
    const sr = recs.find((r) => r.id === swId)!;
    assert.equal(sr.origin, 'smtp');
    assert.equal(sr.client, 'localhost[127.0.0.1]');
    assert.deepEqual(
      sr.recipients.map((r: any) => r.address),
      ['one@example.net', 'two@example.net'],
    );
    assert.match(messageText(s.spool, swId), /^Received: from \S+ \(localhost \[127\.0\.0\.1\]\)\n\tby \S+ \(Outbox\)\n\twith ESMTP id /);
    assert.match(messageText(s.spool, swId), /\nswaks body\n\.\nafter a dot line\n/);
    assert.equal(recs.find((r) => r.id === nmId)!.client, 'localhost[::1]');
    assert.match(messageText(s.spool, nmId), /\nhello\n\.\.\n$/);
    await srv.waitLog(new RegExp(`${swId}: client=localhost\\[127\\.0\\.0\\.1\\]`));
    await srv.waitLog(new RegExp(`${nmId}: client=localhost\\[::1\\]`));
    assert.match(srv.log(), /disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=2 data=1 quit=1 commands=6/);
  });

  it('refuses to listen on a non-loopback address without AUTH, and bad settings', async () => {
    const s = spool();
    for (const args of [
      ['--listen', '0.0.0.0:0'],
      ['--listen', '[::]:0'],
      ['--listen', '169.254.10.1:2525'],
    ]) {
      const r = await run(OUTBOX, ['serve', ...args], { env: s.env });
      assert.equal(r.code, 78, r.stderr);
      assert.match(r.stderr, /refusing to listen on .* without AUTH/);
    }
    assert.equal((await run(OUTBOX, ['serve'], { env: s.env })).code, 78);
    assert.equal((await run(OUTBOX, ['serve', '--listen', 'example.com:25'], { env: s.env })).code, 78);
    assert.equal((await run(OUTBOX, ['serve', '--bogus'], { env: s.env })).code, 64);
    const f = await usersFile(s, 'alice', 'p w!');
    // AUTH without a certificate would send passwords in the clear: refused.
    assert.equal((await run(OUTBOX, ['serve', '--listen', '127.0.0.1:0', '--auth-users', f], { env: s.env })).code, 78);
    fs.chmodSync(f, 0o644);
    const pki = testPki();
    const r = await run(OUTBOX, ['serve', '--listen', '127.0.0.1:0', '--auth-users', f, '--tls-cert', pki.good.certFile, '--tls-key', pki.good.keyFile], {
      env: s.env,
    });
    assert.equal(r.code, 78);
    assert.match(r.stderr, /must not be readable .* by group or others/);
  });

  it('offers AUTH only after STARTTLS, checks the users file, logs sasl_username=', async () => {
    const s = spool();
    const pki = testPki();
    const f = await usersFile(s, 'alice', 'correct horse');
    const srv = await serve(s, ['--listen', '127.0.0.1:0', '--auth-users', f, '--tls-cert', pki.good.certFile, '--tls-key', pki.good.keyFile]);
    const port = srv.ports[0]!;

    // Plaintext: STARTTLS offered, AUTH not offered and refused.
    const sock = await connect(port);
    const d = Dialog.ofSocket(sock);
    await d.expect(220);
    const ehlo = await d.cmd('EHLO c', 250);
    assert.match(ehlo.text, /STARTTLS/);
    assert.doesNotMatch(ehlo.text, /AUTH/);
    assert.match((await d.cmd('AUTH PLAIN ' + Buffer.from('\0alice\0correct horse').toString('base64'), 538)).text, /538 5\.7\.11/);
    // Anything pipelined after STARTTLS is dropped, not run inside TLS.
    d.write('STARTTLS\r\nMAIL FROM:<inject@example.com>\r\n');
    await d.expect(220);
    const tsock = tls.connect({ socket: sock, ca: pki.ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => tsock.once('secureConnect', resolve).once('error', reject));
    const td = Dialog.ofSocket(tsock);
    const ehlo2 = await td.cmd('EHLO c', 250);
    assert.match(ehlo2.text, /^250-AUTH PLAIN LOGIN$/m);
    assert.doesNotMatch(ehlo2.text, /STARTTLS/);
    await td.cmd('RCPT TO:<x@example.com>', 503); // the injected MAIL was not executed
    await td.cmd('AUTH PLAIN ' + Buffer.from('\0alice\0wrong').toString('base64'), 535);
    await td.cmd('AUTH LOGIN', 334);
    await td.cmd(Buffer.from('alice').toString('base64'), 334);
    await td.cmd(Buffer.from('correct horse').toString('base64'), 235);
    await td.cmd('QUIT', 221);
    tsock.destroy();

    // nodemailer: STARTTLS required, certificate verified against the test CA, AUTH PLAIN.
    const t = nodemailer.createTransport({
      host: '127.0.0.1',
      port,
      requireTLS: true,
      tls: { ca: pki.ca, servername: 'localhost' },
      auth: { user: 'alice', pass: 'correct horse' },
    });
    const info = await t.sendMail({ from: 'alice@example.com', to: 'bob@example.net', subject: 'auth', text: 'hi' });
    t.close();
    const id = /queued as (\S+)/.exec(info.response)![1]!;
    assert.match(messageText(s.spool, id), /\twith ESMTPSA id /);
    await srv.waitLog(new RegExp(`${id}: client=localhost\\[127\\.0\\.0\\.1\\], sasl_method=(PLAIN|LOGIN), sasl_username=alice`));
    assert.doesNotMatch(srv.log(), /correct horse/);
    assert.match(srv.log(), /bytes pipelined after STARTTLS discarded/);
  });

  it('offers STARTTLS when a certificate is configured, also without AUTH', async () => {
    const s = spool();
    const pki = testPki();
    const srv = await serve(s, ['--listen', '127.0.0.1:0', '--tls-cert', pki.good.certFile, '--tls-key', pki.good.keyFile]);
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: srv.ports[0]!, requireTLS: true, tls: { ca: pki.ca, servername: 'localhost' } });
    const info = await t.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 'tls', text: 'over TLS' });
    t.close();
    const id = /queued as (\S+)/.exec(info.response)![1]!;
    assert.match(messageText(s.spool, id), /\twith ESMTPS id /);
  });

  it('stops on SIGTERM with a client in the middle of DATA, committing nothing of it', async () => {
    const s = spool();
    const srv = await serve(s, ['--listen', '127.0.0.1:0']);
    const d = Dialog.ofSocket(await connect(srv.ports[0]!));
    await d.expect(220);
    d.write('EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n');
    for (const c of [250, 250, 250, 354]) await d.expect(c);
    d.write('Subject: interrupted\r\n\r\n' + 'part\r\n'.repeat(10_000));
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(fs.readdirSync(path.join(s.spool, 'msg')).length === 1, 'the message file is being written');
    assert.equal(await srv.stop(), 0);
    assert.match(srv.log(), /SIGTERM: stopping/);
    assert.equal(controls(s.spool).length, 0);
    assert.deepEqual(fs.readdirSync(path.join(s.spool, 'msg')), []);
  });

  it('limits concurrent clients, drops idle ones, and survives malformed input', async () => {
    const s = spool();
    // 2 s idle: long enough that the well-behaved dialogs below never come near it under load.
    const srv = await serve(s, ['--listen', '127.0.0.1:0', '--max-clients', '3', '--idle-timeout', '2']);
    const port = srv.ports[0]!;
    const held = await Promise.all([connect(port), connect(port), connect(port)]);
    const ds = held.map((h) => Dialog.ofSocket(h));
    for (const d of ds) await d.expect(220);
    const extra = Dialog.ofSocket(await connect(port));
    assert.match((await extra.expect(421)).text, /^421 4\.3\.2 /);
    // The idle ones are dropped with 421 4.4.2, freeing their slots.
    for (const d of ds) assert.match((await d.expect(421)).text, /^421 4\.4\.2 /);
    await srv.waitLog(/(disconnect|timeout after session)[^\n]*\n[^]*(disconnect|timeout after session)[^\n]*\n[^]*(disconnect|timeout after session)/);

    // A client dripping one byte every 100 ms never completes a line in time: dropped too.
    const drip = Dialog.ofSocket(await connect(port));
    await drip.expect(220);
    const t0 = Date.now();
    const timer = setInterval(() => drip.write('N'), 100);
    try {
      assert.match((await drip.expect(421)).text, /^421 4\.4\.2 /);
    } finally {
      clearInterval(timer);
    }
    assert.ok(Date.now() - t0 < 15_000); // about 2 s (the idle timeout); a drip never ends

    // Malformed input: binary garbage, a huge line, NULs, a client that vanishes mid-DATA.
    const junk = await connect(port);
    junk.write(Buffer.alloc(300_000, 0xff));
    junk.write('\r\n\0\0\0\r\nEHLO \x01\r\n');
    junk.destroy();
    const cut = Dialog.ofSocket(await connect(port));
    await cut.expect(220);
    cut.write('EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n');
    for (const c of [250, 250, 250, 354]) await cut.expect(c);
    cut.write('Subject: cut\r\n\r\nhalf a mess');
    await new Promise((r) => setTimeout(r, 100));
    (cut as any).out.destroy();

    // Still serving.
    const t = nodemailer.createTransport({ host: '127.0.0.1', port, ignoreTLS: true });
    const info = await t.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 'still up', text: 'ok' });
    t.close();
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
    const recs = controls(s.spool);
    assert.equal(recs.length, 1);
    assert.equal(srv.child.exitCode, null);
    assert.equal(await srv.stop(), 0);
    assert.deepEqual(fs.readdirSync(path.join(s.spool, 'msg')), [recs[0]!.id]);
  });
});
