/**
 * Unit tests of smtpin/session.ts with an in-memory transport (no submit reached unless a
 * message is sent): the refusal of non-local clients on a listener without AUTH, relay
 * control with AUTH, and the -bs path's static imports staying lean.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { InputQueue } from '../../../src/smtpin/input.js';
import { SmtpSession, type SessionOptions } from '../../../src/smtpin/session.js';
import type { Config } from '../../../src/config/config.js';

const config = { hostname: 'mx.test', domain: 'test', maxMessageSize: 0, spool: '/nonexistent' } as Config;

async function converse(script: string, opts: Partial<SessionOptions>, secure = false): Promise<{ out: string; end: string }> {
  const input = new InputQueue(null, 1 << 20, 1000);
  input.push(Buffer.from(script));
  input.end();
  let out = '';
  const s = new SmtpSession(
    { input, secure, write: async (t) => void (out += t) },
    { config, origin: 'smtp', submitter: { uid: 1, name: 'd' }, client: { host: 'unknown', ip: '192.0.2.1', trusted: false }, ...opts },
  );
  const end = await s.run();
  return { out, end };
}

describe('SmtpSession', () => {
  it('refuses a non-local client at the greeting and answers only QUIT and NOOP', async () => {
    const { out, end } = await converse('EHLO x\r\nMAIL FROM:<a@b>\r\nNOOP\r\nQUIT\r\n', { refuse: 'mx.test Error: access denied' });
    assert.equal(end, 'quit');
    assert.deepEqual(
      out
        .split('\r\n')
        .filter(Boolean)
        .map((l) => l.slice(0, 3)),
      ['554', '503', '503', '250', '221'],
    );
  });

  it('without AUTH a non-local client cannot relay: RCPT 530', async () => {
    const auth = { mechanisms: ['PLAIN'], verify: async (u: string, p: string) => u === 'u' && p === 'p' };
    const { out } = await converse('EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nQUIT\r\n', { auth });
    assert.match(out, /\r\n530 5\.7\.0 Authentication required\r\n503 5\.5\.1 Error: need RCPT command\r\n221 /);
    // Over TLS, after AUTH PLAIN, RCPT is accepted.
    const plain = Buffer.from('\0u\0p').toString('base64');
    const ok = await converse(`EHLO x\r\nAUTH PLAIN ${plain}\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nQUIT\r\n`, { auth }, true);
    assert.match(ok.out, /\r\n235 2\.7\.0 .*\r\n250 2\.1\.0 Ok\r\n250 2\.1\.5 Ok\r\n221 /);
    // authzid naming someone else is refused.
    const other = Buffer.from('admin\0u\0p').toString('base64');
    assert.match((await converse(`EHLO x\r\nAUTH PLAIN ${other}\r\nQUIT\r\n`, { auth }, true)).out, /\r\n501 5\.5\.2 /);
  });

  it('closes after three failed AUTH attempts', async () => {
    const auth = { mechanisms: ['PLAIN', 'LOGIN'], verify: async () => false };
    const bad = Buffer.from('\0u\0x').toString('base64');
    const { out, end } = await converse(`EHLO x\r\n${`AUTH PLAIN ${bad}\r\n`.repeat(5)}QUIT\r\n`, { auth }, true);
    assert.equal(end, 'too-many-errors');
    assert.equal((out.match(/^535 /gm) ?? []).length, 3);
    assert.match(out, /421 4\.7\.0 .*authentication failures\r\n$/);
  });
});

describe('imports', () => {
  it('sendmail -bs (smtpin/stdio.js) statically loads no SMTP client, parser, CLI framework or TLS', () => {
    const distSrc = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src');
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+['"]([^'"]+)['"]/gm)) {
        const spec = m[1]!;
        if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec));
        else packages.add(spec);
      }
    };
    visit(path.join(distSrc, 'smtpin/stdio.js'));
    for (const p of packages) assert.ok(p.startsWith('node:') && p !== 'node:tls' && p !== 'node:net', `-bs loads ${p}`);
    for (const f of seen) assert.ok(!/^(runner|queue)\/|^smtpin\/serve/.test(path.relative(distSrc, f)), `-bs loads ${path.relative(distSrc, f)}`);
  });
});

describe('SmtpSession fuzz', () => {
  it('answers any byte sequence with well-formed replies and ends cleanly', async () => {
    const fc = (await import('fast-check')).default;
    const os = await import('node:os');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-fuzz-'));
    try {
      const cfg = { ...config, spool: path.join(dir, 'spool'), maxMessageSize: 5000 } as Config;
      const piece = fc.oneof(
        fc.constant('EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n'),
        fc.constantFrom(
          'EHLO x\r\n',
          'HELO y\n',
          'MAIL FROM:<a@b.example>\r\n',
          'MAIL FROM:<> SIZE=9999999\r\n',
          'RCPT TO:<c@d.example> NOTIFY=NEVER\r\n',
          'RCPT TO:<root>\r\n',
          'DATA\r\n',
          'Subject: x\r\n\r\nbody\r\n.\r\n',
          '..\r\n',
          '.\r\n',
          'RSET\r\n',
          'NOOP\r\n',
          'VRFY x\r\n',
          'HELP\r\n',
          'AUTH PLAIN AGEAYg==\r\n',
          'STARTTLS\r\n',
          'BDAT 1\r\n',
          '\r\n',
          '\n',
          '\r',
          '\0',
          'MAIL FROM:<\xff@\x00>\r\n',
          'RCPT TO:<"a>b"@c> ORCPT=x\r\n',
        ),
        fc.string({ maxLength: 30 }),
        fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a).toString('latin1')),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(piece, { maxLength: 25 }), fc.boolean(), async (parts, quit) => {
          const input = new InputQueue(null, 1 << 20, 2000);
          for (const p of parts) input.push(Buffer.from(p, 'latin1'));
          if (quit) input.push(Buffer.from('\r\n.\r\nQUIT\r\n'));
          input.end();
          let out = '';
          const s = new SmtpSession(
            { input, secure: false, write: async (t) => void (out += t) },
            { config: cfg, origin: 'smtp', submitter: { uid: 1, name: 'd' }, client: { host: 'localhost', trusted: true }, maxErrors: 1000 },
          );
          const end = await s.run();
          assert.ok(['quit', 'eof', 'eof-in-data'].includes(end), end);
          assert.ok(out.endsWith('\r\n'));
          for (const line of out.slice(0, -2).split('\r\n')) assert.match(line, /^[2-5]\d\d[ -]/);
          assert.match(out, /^220 /);
        }),
        { numRuns: 300 },
      );
      // Every committed message is complete: each control record has its message file.
      const ctl = fs.existsSync(path.join(dir, 'spool', 'ctl')) ? fs.readdirSync(path.join(dir, 'spool', 'ctl')) : [];
      const msg = fs.existsSync(path.join(dir, 'spool', 'msg')) ? fs.readdirSync(path.join(dir, 'spool', 'msg')) : [];
      assert.deepEqual(msg.sort(), ctl.sort(), 'no half-written message left, none without its file');
      assert.ok(ctl.length > 0, 'some sessions committed messages');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
