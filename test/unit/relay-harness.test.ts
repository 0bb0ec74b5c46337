/**
 * Tests of the scripted test relay (test/helpers/relay.ts) and the test PKI
 * (test/helpers/pki.ts), using nodemailer as an independent SMTP client.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { testPki } from '../helpers/pki.js';
import { startRelay, type RelayOptions, type TestRelay } from '../helpers/relay.js';

const TIMEOUT = 5_000;

const relays: TestRelay[] = [];
after(async () => {
  await Promise.all(relays.map((r) => r.close()));
});

async function relay(opts?: RelayOptions): Promise<TestRelay> {
  const r = await startRelay(opts);
  relays.push(r);
  return r;
}

type TransportExtra = Record<string, unknown> & { tls?: Record<string, unknown> };

function transport(r: TestRelay, extra: TransportExtra = {}) {
  const { tls, ...rest } = extra;
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port: r.port,
    requireTLS: true,
    tls: { ca: [r.ca], servername: 'localhost', ...(tls ?? {}) },
    auth: { user: 'outbox', pass: 'secret' },
    connectionTimeout: TIMEOUT,
    greetingTimeout: TIMEOUT,
    socketTimeout: TIMEOUT,
    disableFileAccess: true,
    disableUrlAccess: true,
    ...rest,
  } as Parameters<typeof nodemailer.createTransport>[0]);
}

// CRLF line ends, a line starting with '.' (dot-stuffed on the wire), 8-bit text
const RAW = Buffer.from(
  'From: sender@example.org\r\n' +
    'To: rcpt@example.net\r\n' +
    'Subject: relay harness\r\n' +
    'Message-ID: <harness-1@example.org>\r\n' +
    '\r\n' +
    'Line one\r\n' +
    '.leading dot\r\n' +
    '..two dots\r\n' +
    '.\r\n' +
    'Gr\u00fc\u00dfe\r\n',
  'utf8',
);

function send(r: TestRelay, extra: TransportExtra = {}, to: string[] = ['rcpt@example.net']) {
  return transport(r, extra).sendMail({ envelope: { from: 'sender@example.org', to }, raw: RAW });
}

/** the relay stores DATA dot-unstuffed, up to and including the CRLF before the final '.' */
function sameBytes(got: Buffer, sent: Buffer): void {
  assert.ok(got.equals(sent), `DATA mismatch:\n${JSON.stringify(got.toString('latin1'))}\n!=\n${JSON.stringify(sent.toString('latin1'))}`);
}

describe('test PKI', () => {
  it('provides CA-signed, expired, wrong-host, self-signed and client certificates', () => {
    const pki = testPki();
    assert.equal(testPki(), pki, 'cached per process');
    for (const name of ['good', 'expired', 'wronghost', 'selfsigned', 'client'] as const) {
      const c = pki[name];
      assert.match(c.cert.toString(), /BEGIN CERTIFICATE/);
      assert.match(c.key.toString(), /PRIVATE KEY/);
      assert.match(c.sha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      assert.equal(c.sha256Hex, c.sha256.replace(/:/g, '').toLowerCase());
    }
    assert.ok(Date.parse(pki.expired.validTo) < Date.now(), 'expired is expired');
    assert.ok(Date.parse(pki.good.validTo) > Date.now() && Date.parse(pki.good.validFrom) < Date.now());
  });
});

describe('test relay', { timeout: 30_000 }, () => {
  it('accepts a STARTTLS + AUTH PLAIN delivery and records the exact bytes', async () => {
    const r = await relay();
    const info = await send(r, { authMethod: 'PLAIN' });
    assert.deepEqual(info.accepted, ['rcpt@example.net']);
    const [msg] = await r.waitFor(1);
    assert.ok(msg);
    assert.equal(msg.mailFrom, 'sender@example.org');
    assert.deepEqual(msg.rcptTo, ['rcpt@example.net']);
    assert.equal(msg.authUser, 'outbox');
    assert.equal(msg.secure, true);
    sameBytes(msg.data, RAW);
    assert.equal(r.connections, 1);
    assert.equal(r.authAttempts, 1);
    const s = r.sessions[0];
    assert.ok(s);
    assert.equal(s.id, msg.sessionId);
    assert.equal(s.secure, true);
    assert.equal(s.authUser, 'outbox');
    const verbs = s.commands.map((c) => c.split(' ').slice(0, 2).join(' ').toUpperCase());
    assert.ok(verbs.includes('STARTTLS'), s.commands.join(' | '));
    assert.ok(verbs.includes('AUTH PLAIN'), s.commands.join(' | '));
    assert.ok(!s.commands.some((c) => c.includes(Buffer.from('\0outbox\0secret').toString('base64'))), 'credentials redacted');
    assert.equal(s.commands[(s.tlsStartIndex ?? 0) - 1], 'STARTTLS', 'tlsStartIndex points after STARTTLS');
    assert.ok(!s.commands.slice(0, s.tlsStartIndex).some((c) => /^AUTH/i.test(c)), 'no AUTH in the clear');
    assert.match(r.url(), new RegExp(`^smtp\\+starttls://outbox@localhost:${r.port}$`));
    await r.close();
  });

  it('supports AUTH LOGIN, CRAM-MD5 and XOAUTH2, and refuses a wrong password', async () => {
    const r = await relay();
    await send(r, { authMethod: 'LOGIN' });
    await send(r, { authMethod: 'CRAM-MD5' });
    await send(r, { auth: { type: 'OAuth2', user: 'outbox', accessToken: 'token-outbox' } });
    const msgs = await r.waitFor(3);
    assert.deepEqual(
      msgs.map((m) => m.authUser),
      ['outbox', 'outbox', 'outbox'],
    );
    const authCmds = r.sessions.map((s) => s.commands.find((c) => /^AUTH /i.test(c))?.split(' ')[1]);
    assert.deepEqual(authCmds, ['LOGIN', 'CRAM-MD5', 'XOAUTH2']);
    await assert.rejects(send(r, { auth: { user: 'outbox', pass: 'wrong' } }), (err: { responseCode?: number }) => {
      assert.equal(err.responseCode, 535);
      return true;
    });
    assert.equal(r.received.length, 3);
    await r.close();
  });

  it('answers every AUTH with the authReply fault', async () => {
    const r = await relay({ faults: { authReply: '535 5.7.8 Authentication failed' } });
    await assert.rejects(send(r), (err: { responseCode?: number; response?: string; code?: string }) => {
      assert.equal(err.code, 'EAUTH');
      assert.equal(err.responseCode, 535);
      assert.match(String(err.response), /^535 5\.7\.8 Authentication failed/);
      return true;
    });
    assert.equal(r.authAttempts, 1);
    assert.equal(r.received.length, 0);
    await r.close();
  });

  it('rejects one RCPT of two with the scripted reply', async () => {
    const r = await relay({ faults: { rcpt: { 'Bad@Example.net': '550 5.1.1 No such user' } } });
    const info = await send(r, {}, ['good@example.net', 'bad@example.net']);
    assert.deepEqual(info.accepted, ['good@example.net']);
    assert.deepEqual(info.rejected, ['bad@example.net']);
    const rejectedErr = (info as { rejectedErrors?: { response?: string }[] }).rejectedErrors?.[0];
    assert.match(String(rejectedErr?.response), /^550 5\.1\.1 No such user/);
    const [msg] = await r.waitFor(1);
    assert.deepEqual(msg?.rcptTo, ['good@example.net']);
    await r.close();
  });

  it('sends a 421 greeting and closes; failFirstN recovers; setFaults changes behaviour', async () => {
    const r = await relay({ faults: { greeting: '421 4.3.2 Service not available' } });
    await assert.rejects(send(r), (err: { response?: string; responseCode?: number }) => {
      assert.match(String(err.response ?? err), /421 4\.3\.2 Service not available/);
      return true;
    });
    assert.equal(r.sessions.length, 1);
    assert.deepEqual(r.sessions[0]?.commands, []);

    r.setFaults({ failFirstN: 1 });
    await assert.rejects(send(r));
    await send(r);
    assert.equal(r.received.length, 1);
    assert.equal(r.connections, 3);

    r.setFaults({ mailFrom: '451 4.3.0 Try later' });
    await assert.rejects(send(r), (err: { responseCode?: number }) => err.responseCode === 451);
    r.setFaults({});
    await send(r);
    assert.equal(r.received.length, 2);
    await r.close();
  });

  it('the greeting fault reaches a raw client exactly, followed by EOF', async () => {
    const r = await relay({ faults: { greeting: '421 4.3.2 Service not available' } });
    const text = await new Promise<string>((resolve, reject) => {
      const sock = connect(r.port, '127.0.0.1');
      let buf = '';
      const t = setTimeout(() => {
        sock.destroy();
        reject(new Error('no EOF from relay'));
      }, TIMEOUT);
      sock.setEncoding('latin1');
      sock.on('data', (d: string) => (buf += d));
      sock.on('error', reject);
      sock.on('end', () => {
        clearTimeout(t);
        sock.destroy();
        resolve(buf);
      });
    });
    assert.equal(text, '421 4.3.2 Service not available\r\n');
    await r.close();
  });

  it('makes a requireTLS client fail when STARTTLS is not offered', async () => {
    const r = await relay({ starttls: false });
    await assert.rejects(send(r), (err: { code?: string; message: string }) => {
      assert.match(err.message, /STARTTLS/i);
      return true;
    });
    assert.equal(r.received.length, 0);
    assert.equal(r.sessions[0]?.secure, false);
    await r.close();
  });

  it("starttls:'hidden' does not advertise STARTTLS but honours it", async () => {
    const r = await relay({ starttls: 'hidden' });
    await send(r); // nodemailer's requireTLS sends STARTTLS even when it is not advertised
    const [msg] = await r.waitFor(1);
    assert.equal(msg?.secure, true);
    await r.close();
  });

  for (const [cert, reason] of [
    ['expired', /expired/i],
    ['wronghost', /altnames|Hostname\/IP does not match/i],
    ['selfsigned', /self[- ]signed/i],
  ] as const) {
    it(`a verifying client rejects the ${cert} certificate; rejectUnauthorized:false accepts it`, async () => {
      const r = await relay({ cert });
      await assert.rejects(send(r), (err: Error) => {
        assert.match(err.message, reason);
        return true;
      });
      assert.equal(r.received.length, 0);
      await send(r, { tls: { rejectUnauthorized: false } });
      assert.equal(r.received.length, 1);
      await r.close();
    });
  }

  it('supports implicit TLS', async () => {
    const r = await relay({ secure: true });
    assert.match(r.url('bob'), new RegExp(`^smtps://bob@localhost:${r.port}$`));
    await send(r, { secure: true, requireTLS: false });
    const [msg] = await r.waitFor(1);
    assert.equal(msg?.secure, true);
    sameBytes(msg!.data, RAW);
    assert.equal(r.sessions[0]?.tlsStartIndex, 0);
    assert.ok(!r.sessions[0]?.commands.some((c) => /^STARTTLS/i.test(c)));
    // a plaintext client gets nowhere (handshake fails), and the relay keeps running
    await assert.rejects(send(r, { secure: false, requireTLS: false, ignoreTLS: true, greetingTimeout: 500 }));
    await r.close();
  });

  it('dropMidData closes the connection without a reply to DATA', async () => {
    const r = await relay({ faults: { dropMidData: true } });
    await assert.rejects(send(r), (err: { code?: string; message: string }) => {
      assert.ok(err.code === 'ECONNECTION' || err.code === 'ESOCKET' || /closed|reset/i.test(err.message), String(err));
      return true;
    });
    assert.equal(r.dropped, 1);
    assert.equal(r.received.length, 0);
    await r.close();
  });

  it('applies the data fault, acceptDelayMs and DSN/SIZE options', async () => {
    const r = await relay({ faults: { data: '554 5.7.1 Rejected' }, acceptDelayMs: 150, dsn: true, size: 4096 });
    await assert.rejects(send(r), (err: { responseCode?: number; response?: string }) => {
      assert.equal(err.responseCode, 554);
      assert.match(String(err.response), /^554 5\.7\.1 Rejected/);
      return true;
    });
    assert.equal(r.rejected.length, 1);
    r.setFaults({});
    const t0 = Date.now();
    await transport(r).sendMail({
      envelope: { from: 'sender@example.org', to: ['rcpt@example.net'] },
      raw: RAW,
      dsn: { id: 'env-1', return: 'headers', notify: ['failure', 'delay'], recipient: 'sender@example.org' },
    });
    assert.ok(Date.now() - t0 >= 140, 'acceptDelayMs honoured');
    const [msg] = await r.waitFor(1);
    assert.equal(msg?.dsn?.envid, 'env-1');
    assert.equal(msg?.dsn?.ret, 'HDRS');
    assert.deepEqual(msg?.dsn?.rcpt['rcpt@example.net']?.notify, ['FAILURE', 'DELAY']);
    const big = Buffer.concat([RAW, Buffer.alloc(8192, 'x')]);
    await assert.rejects(
      transport(r).sendMail({ envelope: { from: 'a@example.org', to: ['b@example.net'] }, raw: big }),
      (err: { responseCode?: number }) => err.responseCode === 552,
    );
    await r.close();
  });

  it('waitFor times out with a clear message, and close() kills idle connections', async () => {
    const r = await relay();
    await assert.rejects(r.waitFor(1, 200), /waitFor\(1\): timed out after 200 ms with 0 message/);
    // an idle client that never says anything must not keep close() waiting
    const sock = connect(r.port, '127.0.0.1');
    sock.on('error', () => undefined);
    const gotGreeting = new Promise<void>((resolve) => sock.once('data', () => resolve()));
    await gotGreeting;
    const pending = r.waitFor(5, 60_000);
    const t0 = Date.now();
    await r.close();
    assert.ok(Date.now() - t0 < 1500, `close took ${Date.now() - t0} ms`);
    await assert.rejects(pending, /relay closed/);
    await new Promise<void>((resolve) => (sock.destroyed ? resolve() : sock.once('close', () => resolve())));
  });
});
