/**
 * End to end against a real Postfix smarthost (Debian's postfix + Cyrus SASL, started by
 * scripts/test/postfix-smarthost.sh; CI sets OUTBOX_TEST_POSTFIX_DIR): PHP mail() -> spool ->
 * sendmail -q -> Postfix over STARTTLS + AUTH -> Maildir, and the delivered bytes compared with
 * what was committed to the spool (modulo the headers Postfix prepends). Without CI's smarthost
 * the file starts its own on a free port; without Postfix installed it fails (never skips).
 *
 * The Maildir may be shared with other tests running at the same time: messages are found by a
 * unique token, never by counting files.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { smarthostEnv, usePostfixSmarthost, waitForMaildir } from '../helpers/postfix.js';
import { SENDMAIL, controls, run, sleep, tempSpool } from '../helpers/run.js';

async function findMail(maildir: string, token: string, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const files = await waitForMaildir(maildir, 0, 0);
    const hits = files.filter((f) => {
      try {
        return fs.readFileSync(f, 'latin1').includes(token);
      } catch {
        return false;
      }
    });
    if (hits.length > 0 || Date.now() > deadline) return hits;
    await sleep(100);
  }
}

/** The delivered file from our own Received: line on (Postfix prepends its headers above it). */
function fromOurReceived(text: string): string {
  const i = text.search(/^Received: by [^\n]* \(Outbox, from userid/m);
  assert.ok(i >= 0, 'our Received: line is in the delivered message');
  return text.slice(i);
}

{
  // A smarthost must exist: CI's, or one started here (failing loudly when Postfix is missing).
  const { sh, stop } = await usePostfixSmarthost();
  after(stop);
  describe('delivery to a real Postfix smarthost (STARTTLS + AUTH)', () => {
    const t = tempSpool('outbox-postfix-');
    after(() => t.cleanup());
    const env = { ...t.env, ...smarthostEnv(sh, t.dir) };

    it('PHP mail() -> spool -> sendmail -q -> Postfix -> Maildir, bytes intact', async () => {
      const token = `pf-${randomBytes(6).toString('hex')}`;
      const script = path.join(t.dir, 'mail.php');
      // PHP 8 writes CRLF headers; 8-bit body; a lone dot line; a line starting with a dot.
      fs.writeFileSync(
        script,
        `<?php
$ok = mail('php-${token}@example.com', 'Subject ${token}', "Hello from PHP.\\n.\\n..dots\\nUTF-8: gr\\xc3\\xbc\\xc3\\x9fe\\n", "From: app@example.com\\r\\nX-Token: ${token}", '-fbounce@example.com');
echo $ok ? "true" : "false";`,
      );
      const php = execFileSync('which', ['php'], { encoding: 'utf8' }).trim();
      const r = await run(php, ['-d', `sendmail_path=${SENDMAIL} -t -i -odq`, script], { env });
      assert.equal(r.stdout, 'true', r.stderr);
      const [rec] = controls(t.spool).filter((c) => c.recipients[0].address === `php-${token}@example.com`);
      assert.ok(rec, 'queued');
      const stored = fs.readFileSync(path.join(t.spool, 'msg', rec.id), 'latin1');

      const q = await run(SENDMAIL, ['-q'], { env, timeoutMs: 30_000 });
      assert.equal(q.code, 0, q.stderr);
      assert.match(q.stderr, /status=sent \(250 /);
      assert.deepEqual(
        controls(t.spool).filter((c) => c.id === rec.id),
        [],
      );

      const files = await findMail(sh.maildir, token, 60_000);
      assert.equal(files.length, 1, 'delivered once');
      const delivered = fs.readFileSync(files[0]!, 'latin1');
      assert.match(delivered, /^Return-Path: <bounce@example\.com>$/m);
      assert.equal(fromOurReceived(delivered), stored);
    });

    it('sendmail (no PHP) -> -q -> Postfix -> Maildir: dots, 8-bit, long lines, bytes intact', async () => {
      const token = `pfn-${randomBytes(6).toString('hex')}`;
      const input = `From: Cron Daemon <root@example.com>\nSubject: ${token}\n\n.\n..two dots\n.one dot\n${'long '.repeat(300)}\nUTF-8: gr\u00fc\u00dfe\n`;
      const r = await run(SENDMAIL, ['-odq', '-i', '-f', 'root@example.com', `nophp-${token}@example.com`], { env, input });
      assert.equal(r.code, 0, r.stderr);
      const [rec] = controls(t.spool).filter((c) => c.recipients[0].address === `nophp-${token}@example.com`);
      const stored = fs.readFileSync(path.join(t.spool, 'msg', rec!.id), 'latin1');
      const q = await run(SENDMAIL, ['-q'], { env, timeoutMs: 30_000 });
      assert.equal(q.code, 0, q.stderr);
      const files = await findMail(sh.maildir, token, 60_000);
      assert.equal(files.length, 1);
      assert.equal(fromOurReceived(fs.readFileSync(files[0]!, 'latin1')), stored);
    });

    it('a flush of 50 messages over reused authenticated sessions, each delivered once', async () => {
      const token = `pfb-${randomBytes(6).toString('hex')}`;
      for (let i = 0; i < 50; i++) {
        const r = await run(SENDMAIL, ['-odq', '-f', 'bulk@example.com', `bulk${i}@example.com`], { env, input: `Subject: ${token} ${i}\n\n${token} #${i}\n` });
        assert.equal(r.code, 0);
      }
      const q = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
      assert.equal(q.code, 0, q.stderr);
      assert.equal((q.stderr.match(/status=sent/g) ?? []).length, 50);
      const files = await findMail(sh.maildir, token, 60_000);
      const t0 = Date.now();
      let n = files.length;
      while (n < 50 && Date.now() - t0 < 60_000) {
        await sleep(200);
        n = (await findMail(sh.maildir, token, 0)).length;
      }
      assert.equal(n, 50);
    });
  });
}
