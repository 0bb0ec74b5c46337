/** Unit tests of the configuration loader (src/config/file.ts with keys.ts, reader.ts, sections.ts; src/config/locate.ts). */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfigText, readConfigFile } from '../../../src/config/file.js';
import { checkRelayUrl } from '../../../src/relay/url.js';
import { suggest } from '../../../src/config/reader.js';
import { Locator } from '../../../src/config/locate.js';
import { REPO } from '../../helpers/run.js';

function err(text: string): string {
  try {
    parseConfigText('t.conf', text);
  } catch (e) {
    assert.equal((e as { exitCode?: number }).exitCode, 78);
    return (e as Error).message;
  }
  assert.fail('expected a configuration error');
}

describe('config file', () => {
  it('reads the shipped example file completely', () => {
    const file = path.join(REPO, 'outbox.conf.example');
    const s = parseConfigText(file, fs.readFileSync(file, 'utf8'));
    assert.ok(s.relays && Object.keys(s.relays).length >= 2);
    assert.ok(s.routes && s.routes.length >= 3);
    assert.ok(s.deliverySettings?.retryScheduleMs?.length);
    assert.ok(s.listener?.listen.length);
  });

  it('fills relays, routes, delivery, listener, sender table', () => {
    const s = parseConfigText(
      't.conf',
      `hostname = "h.example.com"
domain = "example.com"
default_relay = "b"
aliases = "/etc/aliases"
local_domains = ["h2.example.com"]
masquerade = "example.com"

[relay.a]
url = "smtp+starttls://me@smtp.a.example"
password_file = "/etc/outbox/a.pw"
fallbacks = ["b"]
connect_timeout = "30s"
fingerprint = "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99"
max_connections = 3

[relay.b]
url = "smtps://u%40x@smtp.b.example:2465"
password_command = "pass show b"
password_command_timeout = 5
force_sender = "u@x.example"

[[route]]
domain = ["corp.example", ".corp.example"]
relay = "a"

[[route]]
sender = "@shop.example"
relay = "b"

[[route]]
domain = "test.invalid"
relay = "hold"

[delivery]
mode = "queue"
retry_schedule = ["5m", "30m", "2h"]
max_queue_lifetime = "5d"
retry_jitter = 0.1

[listener]
listen = "127.0.0.1:2525"
idle_timeout = "2m"

[sender_table]
"shop@vendor.example" = "Me <me+shop@example.com>"
"@bank.example" = { from = "me+bank@example.com", reply_to = "me@example.com" }
`,
    );
    assert.equal(s.relays!.a!.connectTimeoutMs, 30_000);
    assert.equal(s.relays!.a!.line, 8);
    assert.deepEqual(s.relays!.a!.fallbacks, ['b']);
    assert.match(s.relays!.a!.fingerprints![0]!, /^AA:BB:/);
    assert.equal(s.relays!.b!.passwordCommandTimeoutMs, 5000);
    assert.equal(s.defaultRelay, 'b');
    assert.deepEqual(
      s.routes!.map((r) => [r.recipientDomain, r.sender, r.relay, r.line]),
      [
        ['corp.example', undefined, 'a', 22],
        ['.corp.example', undefined, 'a', 22],
        [undefined, '@shop.example', 'b', 26],
        ['test.invalid', undefined, 'hold', 30],
      ],
    );
    assert.equal(s.delivery, 'queue');
    assert.deepEqual(s.deliverySettings!.retryScheduleMs, [300_000, 1_800_000, 7_200_000]);
    assert.equal(s.deliverySettings!.maxQueueLifetimeMs, 5 * 86_400_000);
    assert.deepEqual(s.listener!.listen, ['127.0.0.1:2525']);
    assert.equal(s.listener!.idleTimeoutMs, 120_000);
    assert.deepEqual(s.senderTable, [
      { recipient: 'shop@vendor.example', from: 'Me <me+shop@example.com>' },
      { recipient: '@bank.example', from: 'me+bank@example.com', replyTo: 'me@example.com' },
    ]);
  });

  it('syntax errors name the line', () => {
    assert.match(err('hostname = "a"\n\ndomain = \n'), /^t\.conf:3: syntax error: /);
  });

  it('unknown keys name file:line:key and suggest the nearest key, in every section', () => {
    assert.equal(err('# c\nhostnme = "x"\n'), 't.conf:2: hostnme: unknown key (did you mean "hostname"?)');
    assert.equal(err('[relay.a]\nurl = "smtp://h"\npasword_file = "/x"\n'), 't.conf:3: relay.a.pasword_file: unknown key (did you mean "password_file"?)');
    assert.equal(
      err('[relay.a]\nurl = "smtp://h"\n[[route]]\ndomian = "x.com"\nrelay = "a"\n'),
      't.conf:4: route[1].domian: unknown key (did you mean "domain"?)',
    );
    assert.equal(err('[delivery]\nretry_schedul = ["5m"]\n'), 't.conf:2: delivery.retry_schedul: unknown key (did you mean "retry_schedule"?)');
    assert.equal(err('[listener]\nlisten = "127.0.0.1:1"\nmax_client = 3\n'), 't.conf:3: listener.max_client: unknown key (did you mean "max_clients"?)');
    assert.equal(err('[relays.a]\nurl = "x"\n'), 't.conf:1: relays: unknown key (did you mean "relay"?)');
    assert.equal(err('zzzzzzzz = 1\n'), 't.conf:1: zzzzzzzz: unknown key');
  });

  it('bad relay URLs are refused with the reason', () => {
    assert.match(err('[relay.a]\nurl = "smtpx://h"\n'), /^t\.conf:2: relay\.a\.url: unknown scheme "smtpx"/);
    assert.match(err('[relay.a]\nurl = "smtp+starttls://u:pw@h"\n'), /relay\.a\.url: the URL holds a password/);
    assert.match(err('[relay.a]\nurl = "smtp://u@h"\n'), /plaintext and never authenticates/);
    assert.match(err('[relay.a]\nurl = "smtps://h:99999"\n'), /"99999" is not a port number/);
    assert.match(err('[relay.a]\nurl = "h ost"\n'), /is not a URL/);
    assert.deepEqual(checkRelayUrl('h.example.com'), { scheme: 'smtp+starttls', tls: 'starttls', host: 'h.example.com', port: 587 });
    assert.deepEqual(checkRelayUrl('submissions://u@h.example.com'), { scheme: 'smtps', tls: 'implicit', host: 'h.example.com', port: 465, user: 'u' });
    assert.match(err('[relay.a]\n'), /^t\.conf:1: relay\.a: url is required/);
    assert.match(err('[relay.a]\nurl = "smtps://h"\npassword_file = "/x"\n'), /names no user/);
  });

  it('cross references and values are checked', () => {
    assert.match(
      err('default_relay = "mian"\n[relay.main]\nurl = "smtps://h"\n'),
      /^t\.conf:1: default_relay: no relay named "mian" \(did you mean "main"\?\)/,
    );
    assert.match(err('[relay.a]\nurl = "smtps://h"\nfallbacks = ["a"]\n'), /its own fallback/);
    assert.match(err('[relay.a]\nurl = "smtps://h"\n[[route]]\nrelay = "a"\n'), /route\[1\]: a route needs domain, sender or from/);
    assert.match(err('delivery = "later"\n'), /delivery: must be one of/);
    assert.match(err('[relay.a]\nurl = "smtps://h"\nconnect_timeout = "soon"\n'), /t\.conf:3: relay\.a\.connect_timeout: must be a duration/);
    assert.match(err('aliases = "etc/aliases"\n'), /must be an absolute path/);
    assert.match(err('[relay.a]\nurl = "smtps://u@h"\npassword = "x"\npassword_file = "/y"\n'), /at most one of/);
    assert.match(err('[sender_table]\n"nobody" = "a@b.example"\n'), /t\.conf:2: sender_table\.nobody: the key must be/);
    assert.match(err('[relay.hold]\nurl = "smtps://h"\n'), /reserved/);
    assert.equal(
      err('[relay.a]\nurl = "smtps://h"\nfingerprint = ["ab:cd"]\n'),
      't.conf:3: relay.a.fingerprint: "ab:cd" is not a SHA-256 fingerprint (64 hex digits, colons optional)',
    );
    assert.match(
      err(`[relay.a]\nurl = "smtps://h"\nfingerprint = "${'ab'.repeat(32)}\\n"\n`),
      /^t\.conf:3: relay\.a\.fingerprint: "(ab)+\\n" is not a SHA-256 fingerprint [^\n]*$/,
    ); // one line
  });

  it('an inline password needs a private file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-cfg-'));
    try {
      const f = path.join(dir, 'o.conf');
      fs.writeFileSync(f, '[relay.a]\nurl = "smtps://u@h"\npassword = "s3cret"\n', { mode: 0o644 });
      fs.chmodSync(f, 0o644);
      assert.throws(
        () => readConfigFile(f),
        (e: Error) => {
          assert.match(e.message, /o\.conf:3: relay\.a\.password: an inline password is only allowed in a private file.*chmod 600/);
          assert.doesNotMatch(e.message, /s3cret/);
          return true;
        },
      );
      fs.chmodSync(f, 0o600);
      assert.equal(readConfigFile(f).relays!.a!.password, 's3cret');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('durations: seconds as a number, strings in the notation of duration.ts, compound ones too', () => {
    const d = (v: string) => parseConfigText('t.conf', `[delivery]\nmax_queue_lifetime = ${v}\n`).deliverySettings?.maxQueueLifetimeMs;
    assert.equal(d('30'), 30_000);
    assert.equal(d('0.5'), 500);
    assert.equal(d('"500ms"'), 500);
    assert.equal(d('"2h"'), 7_200_000);
    // Was refused before the file, -q and --older-than shared one parser (sendmail's -q1h30m form).
    assert.equal(d('"1h30m"'), 5_400_000);
    assert.match(err('[delivery]\nmax_queue_lifetime = "2 days"\n'), /must be a duration/);
    assert.match(err('[delivery]\nmax_queue_lifetime = -5\n'), /must be a duration/);
    assert.match(err('[delivery]\nretry_schedule = ["5m", "0s"]\n'), /must be a list of durations/);
  });

  it('URLs, suggestions', () => {
    assert.deepEqual(checkRelayUrl('smtp+starttls://a%40b@[::1]:2525'), { scheme: 'smtp+starttls', tls: 'starttls', host: '::1', port: 2525, user: 'a@b' });
    assert.deepEqual(checkRelayUrl('smtps://smtp.example.com'), { scheme: 'smtps', tls: 'implicit', host: 'smtp.example.com', port: 465 });
    assert.equal(suggest('pasword', ['password', 'url']), 'password');
  });

  it('locator follows tables and array tables', () => {
    const l = new Locator('a = 1\n[relay.x]\nurl = "u"\n[[route]]\nrelay = "x"\n[[route]]\n  relay = "y" # c\n["sender_table"]\n"a@b" = "c"\n');
    assert.equal(l.line(['a']), 1);
    assert.equal(l.line(['relay', 'x', 'url']), 3);
    assert.equal(l.line(['relay', 'x', 'nothing']), 2);
    assert.equal(l.line(['route', 1, 'relay']), 7);
    assert.equal(l.line(['sender_table', 'a@b']), 9);
  });
});

describe('config file: sending limits', () => {
  it('reads rate, daily_messages, daily_recipients and a preset', () => {
    const s = parseConfigText(
      't.conf',
      `[relay.g]\nurl = "smtp+starttls://u@h.example:587"\npassword_file = "/p"\nlimits = "gmail"\nrate = "30/min"\ndaily_messages = 400\ndaily_recipients = 900\n`,
    );
    const g = s.relays!.g!;
    assert.deepEqual([g.limits, g.rate, g.dailyMessages, g.dailyRecipients], ['gmail', '30/min', 400, 900]);
  });
  it('refuses a rate it cannot read, an unknown preset, a zero daily limit', () => {
    const relay = `[relay.g]\nurl = "smtp+starttls://u@h.example:587"\npassword_file = "/p"\n`;
    assert.match(err(`${relay}rate = "30"\n`), /rate.*must be messages per time, like "30\/min"/);
    assert.match(err(`${relay}limits = "gmai"\n`), /limits.*must be one of "gmail", "workspace", "microsoft365", "ses-sandbox" \(did you mean "gmail"\?\)/);
    assert.match(err(`${relay}daily_messages = 0\n`), /daily_messages.*whole number >= 1/);
  });
});
