/**
 * PHP talking to `sendmail -bs`, for real: Debian's php-cli with (1) a small script that opens
 * `sendmail -bs` with proc_open and speaks SMTP itself, and (2) Debian's Symfony Mailer
 * (php-symfony-mailer) with its SendmailTransport in its default -bs mode, sending several
 * messages over one session (its SMTP stream stays open between sends).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { SENDMAIL, controls, messageText, run, tempSpool, type TempSpool } from '../helpers/run.js';

const spools: TempSpool[] = [];
after(() => spools.forEach((s) => s.cleanup()));

const RAW = String.raw`<?php
$p = proc_open([$argv[1], '-bs'], [0 => ['pipe', 'r'], 1 => ['pipe', 'w']], $pipes);
if (!is_resource($p)) { fwrite(STDERR, "proc_open failed\n"); exit(2); }
function expect_reply($pipes, $cmd, $code) {
  if ($cmd !== null) fwrite($pipes[0], $cmd . "\r\n");
  $r = '';
  while (($l = fgets($pipes[1])) !== false) { $r .= $l; if (strlen($l) < 4 || $l[3] === ' ') break; }
  if (substr($r, 0, 3) !== (string)$code) { fwrite(STDERR, "after '$cmd' expected $code, got: $r"); exit(1); }
  return $r;
}
expect_reply($pipes, null, 220);
expect_reply($pipes, 'EHLO php.example', 250);
expect_reply($pipes, 'MAIL FROM:<php@example.com>', 250);
expect_reply($pipes, 'RCPT TO:<someone@example.net>', 250);
expect_reply($pipes, 'DATA', 354);
fwrite($pipes[0], "Subject: from PHP\r\nTo: someone@example.net\r\n\r\nHello from proc_open.\r\n..\r\n.\r\n");
$r = expect_reply($pipes, null, 250);
preg_match('/queued as (\S+)/', $r, $m);
expect_reply($pipes, 'QUIT', 221);
fclose($pipes[0]); fclose($pipes[1]);
$status = proc_close($p);
echo "id=" . $m[1] . " status=" . $status . "\n";
`;

const SYMFONY = String.raw`<?php
require '/usr/share/php/Symfony/Component/Mailer/autoload.php';
require_once '/usr/share/php/Symfony/Component/Mime/autoload.php';
use Symfony\Component\Mailer\Mailer;
use Symfony\Component\Mailer\Transport\SendmailTransport;
use Symfony\Component\Mime\Email;
$mailer = new Mailer(new SendmailTransport($argv[1] . ' -bs'));
for ($i = 1; $i <= 3; $i++) {
  $email = (new Email())
    ->from('Web App <app@example.com>')
    ->to('user@example.net')
    ->bcc('hidden@example.org')
    ->subject("Order $i")
    ->text("Line one\n.\n..starts with dots\nlast line");
  $mailer->send($email);
}
echo "sent\n";
`;

// Laravel's default command line (-bs -i); a message over max_message_size must surface as an
// exception in PHP carrying the 552 reply, and nothing is queued.
const SYMFONY_TOO_BIG = String.raw`<?php
require '/usr/share/php/Symfony/Component/Mailer/autoload.php';
require_once '/usr/share/php/Symfony/Component/Mime/autoload.php';
use Symfony\Component\Mailer\Mailer;
use Symfony\Component\Mailer\Transport\SendmailTransport;
use Symfony\Component\Mailer\Exception\TransportExceptionInterface;
use Symfony\Component\Mime\Email;
$mailer = new Mailer(new SendmailTransport($argv[1] . ' -bs -i -C ' . $argv[2]));
$email = (new Email())->from('app@example.com')->to('user@example.net')->subject('big')->text(str_repeat("0123456789\n", 500));
try {
  $mailer->send($email);
  echo "sent\n";
} catch (TransportExceptionInterface $e) {
  echo "error: " . $e->getMessage() . "\n";
}
`;

describe('PHP over sendmail -bs', () => {
  it('a proc_open script speaking SMTP gets its message queued', async () => {
    const s = tempSpool('outbox-php-');
    spools.push(s);
    const script = path.join(s.dir, 'raw.php');
    fs.writeFileSync(script, RAW);
    const r = await run('php', [script, SENDMAIL], { env: s.env });
    assert.equal(r.code, 0, r.stderr);
    const m = /^id=(\S+) status=0$/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    const [rec] = controls(s.spool);
    assert.equal(rec!.id, m[1]);
    assert.equal(rec!.sender, 'php@example.com');
    assert.match(messageText(s.spool, String(rec!.id)), /\n\nHello from proc_open\.\n\.\n$/);
  });

  it("Symfony Mailer's SendmailTransport (-bs) sends three messages, Bcc in the envelope only", async () => {
    const s = tempSpool('outbox-symfony-');
    spools.push(s);
    const script = path.join(s.dir, 'symfony.php');
    fs.writeFileSync(script, SYMFONY);
    const r = await run('php', [script, SENDMAIL], { env: s.env, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^sent$/m);
    const recs = controls(s.spool);
    assert.equal(recs.length, 3);
    for (const rec of recs) {
      assert.equal(rec.origin, 'smtp-stdio');
      assert.equal(rec.sender, 'app@example.com');
      assert.deepEqual(rec.recipients.map((x: any) => x.address).sort(), ['hidden@example.org', 'user@example.net']);
      const text = messageText(s.spool, rec.id);
      assert.doesNotMatch(text, /^Bcc:/im);
      assert.match(text, /^Subject: Order [123]$/m);
      // Symfony dot-stuffs; the stored body has the caller's original lines.
      assert.match(text, /\nLine one\n\.\n\.\.starts with dots\nlast line\n$/);
    }
  });

  it('Symfony Mailer (Laravel command line -bs -i) gets a 552 exception for a message over the limit', async () => {
    const s = tempSpool('outbox-symfony-big-');
    spools.push(s);
    const conf = path.join(s.dir, 'outbox.conf');
    fs.writeFileSync(conf, 'max_message_size = 2000\n');
    const script = path.join(s.dir, 'big.php');
    fs.writeFileSync(script, SYMFONY_TOO_BIG);
    const r = await run('php', [script, SENDMAIL, conf], { env: s.env, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^error: .*552/m);
    assert.equal(controls(s.spool).length, 0);
  });
});
