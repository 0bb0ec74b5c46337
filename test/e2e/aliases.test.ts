/**
 * End-to-end: aliases at submission, newaliases and sendmail -bv through the built binary.
 * Submission with aliases is checked in the spool's control record (envelope recipients).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { NEWALIASES, SENDMAIL, controls, messageText, run, tempSpool } from '../helpers/run.js';

const t = tempSpool('outbox-aliases-e2e-');
after(() => t.cleanup());
const aliases = path.join(t.dir, 'aliases');
fs.writeFileSync(
  aliases,
  `# test aliases
postmaster: root
root: admin@example.org,
      ops
ops: \\ops, oncall@example.org
gone: error:nouser This address is no longer in use
cmd: |/usr/bin/procmail
`,
);
const conf = path.join(t.dir, 'outbox.conf');
fs.writeFileSync(
  conf,
  `hostname = "host.example.com"
domain = "example.com"
aliases = "${aliases}"
local_domains = ["alt.example.com"]
delivery = "queue"
[relay.main]
url = "smtp+starttls://u@smtp.example.net"
[[route]]
domain = "test.invalid"
relay = "hold"
`,
);
const env = { ...t.env };

describe('aliases', () => {
  it('a bare name and user@this-host are aliased at submission; other addresses untouched', async () => {
    const r = await run(SENDMAIL, ['-C', conf, '-i', 'postmaster', 'x@remote.example', 'root@host.example.com', 'nobody@alt.example.com'], {
      env,
      input: 'Subject: a\n\nhi\n',
    });
    assert.equal(r.code, 0, r.stderr);
    const recs = controls(t.spool);
    const last = recs[recs.length - 1]!;
    assert.deepEqual(
      last.recipients.map((x: { address: string }) => x.address),
      ['admin@example.org', 'ops@example.com', 'oncall@example.org', 'x@remote.example', 'nobody@example.com'],
    );
    // Headers are untouched (no re-serialisation).
    assert.match(messageText(t.spool, last.id), /\nSubject: a\n/);
  });

  it('-t header recipients are aliased too', async () => {
    const r = await run(SENDMAIL, ['-C', conf, '-t', '-i'], { env, input: 'To: root\nSubject: b\n\nhi\n' });
    assert.equal(r.code, 0, r.stderr);
    const recs = controls(t.spool);
    const last = recs[recs.length - 1]!;
    assert.deepEqual(
      last.recipients.map((x: { address: string }) => x.address),
      ['admin@example.org', 'ops@example.com', 'oncall@example.org'],
    );
    assert.match(messageText(t.spool, last.id), /^To: root$/m);
  });

  it('error:nouser refuses with its message and exit 67; nothing is queued', async () => {
    const before = controls(t.spool).length;
    const r = await run(SENDMAIL, ['-C', conf, '-i', 'gone'], { env, input: 'Subject: c\n\nhi\n' });
    assert.equal(r.code, 67);
    assert.equal(r.stderr, 'sendmail: recipient gone: This address is no longer in use\n');
    assert.equal(controls(t.spool).length, before);
  });

  it('over SMTP (-bs), an error: alias is refused at RCPT with 550, other recipients go through', async () => {
    const before = controls(t.spool).length;
    const session = 'EHLO client.example\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<gone>\r\nRCPT TO:<root>\r\nDATA\r\nSubject: e\r\n\r\nhi\r\n.\r\nQUIT\r\n';
    const r = await run(SENDMAIL, ['-C', conf, '-bs'], { env, input: session });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\r\n550 5\.1\.1 [^\r]*no longer in use\r\n/);
    assert.match(r.stdout, /250 2\.0\.0 Ok: queued as [0-9A-Z]{12}/);
    const recs = controls(t.spool);
    assert.equal(recs.length, before + 1);
    assert.deepEqual(
      recs[recs.length - 1]!.recipients.map((x: { address: string }) => x.address),
      ['admin@example.org', 'ops@example.com', 'oncall@example.org'],
    );
  });

  it('a pipe alias is refused clearly (78)', async () => {
    const r = await run(SENDMAIL, ['-C', conf, '-i', 'cmd'], { env, input: 'Subject: d\n\nhi\n' });
    assert.equal(r.code, 78);
    assert.match(r.stderr, /cmd: alias "cmd" \(.*aliases:7\): "\|\/usr\/bin\/procmail": pipes to commands are not supported \(Outbox is a null client/);
  });

  it('newaliases reports problems by line and exits 78; a clean file exits 0', async () => {
    const r = await run(NEWALIASES, ['-C', conf], { env });
    assert.equal(r.code, 78);
    assert.match(r.stderr, new RegExp(`newaliases: ${aliases}:7: alias "cmd": "\\|/usr/bin/procmail": pipes to commands are not supported`));
    assert.match(r.stdout, /5 aliases, 1 problem/);
    const clean = path.join(t.dir, 'clean');
    fs.writeFileSync(clean, 'root: a@example.org\n');
    const c2 = path.join(t.dir, 'c2.conf');
    fs.writeFileSync(c2, `aliases = "${clean}"\n`);
    const ok = await run(SENDMAIL, ['-C', c2, '-bi'], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /1 alias, 0 problems/);
  });

  it('sendmail -bv explains aliases, route and relay without sending', async () => {
    const before = controls(t.spool).length;
    const r = await run(SENDMAIL, ['-C', conf, '-bv', 'root', 'a@test.invalid', 'gone'], { env });
    assert.equal(r.code, 67);
    assert.match(r.stdout, /root: alias "root" \(.*:3\) -> admin@example\.org, ops/);
    assert.match(
      r.stdout,
      /admin@example\.org\.\.\. deliverable: relay main \(smtp\+starttls:\/\/smtp\.example\.net:587\); no route matches: the first relay, main/,
    );
    assert.match(r.stdout, /a@test\.invalid\.\.\. held: route domain test\.invalid \(line 8\): hold/);
    assert.match(r.stdout, /gone\.\.\. refused: gone: This address is no longer in use/);
    assert.equal(controls(t.spool).length, before);
  });
});
