import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, FLAGS, type SendOptions } from '../../../src/cli/flags.js';
import { EX_USAGE, OutboxError } from '../../../src/sysexits.js';

function send(args: string[]): SendOptions {
  const m = parseArgs(args);
  assert.equal(m.kind, 'send');
  return m as SendOptions;
}

function usageError(args: string[], pattern: RegExp, invokedAs = 'sendmail') {
  assert.throws(
    () => parseArgs(args, invokedAs),
    (e: unknown) => e instanceof OutboxError && e.exitCode === EX_USAGE && pattern.test(e.message),
  );
}

// Every row of ../shared/CALLERS.md, as the caller runs it.
test('PHP mail(): -t -i, with -f appended attached or separate', () => {
  let m = send(['-t', '-i']);
  assert.equal(m.extractRecipients, true);
  assert.equal(m.ignoreDots, true);
  m = send(['-t', '-i', '-fbounce@example.com']);
  assert.equal(m.sender, 'bounce@example.com');
  m = send(['-t', '-i', '-f', 'bounce@example.com']);
  assert.equal(m.sender, 'bounce@example.com');
});

test("-f '' and -r '' are the null sender, not the default sender", () => {
  assert.equal(send(['-f', '', 'a@x.org']).sender, '');
  assert.equal(send(['-r', '', 'a@x.org']).sender, '');
  assert.equal(send(['-f', '<>', 'a@x.org']).sender, '<>');
  assert.equal(send(['a@x.org']).sender, undefined);
});

test('Symfony -t mode: -t -f<sender> -- rcpts', () => {
  const m = send(['-t', '-fapp@example.com', '--', 'a@example.com', 'b@example.com']);
  assert.equal(m.sender, 'app@example.com');
  assert.deepEqual(m.recipients, ['a@example.com', 'b@example.com']);
  assert.equal(m.ignoreDots, false);
});

test('Debian cron: -FCronDaemon -i -B8BITMIME -oem root', () => {
  const m = send(['-FCronDaemon', '-i', '-B8BITMIME', '-oem', 'root']);
  assert.equal(m.fullName, 'CronDaemon');
  assert.equal(m.bodyType, '8BITMIME');
  assert.deepEqual(m.recipients, ['root']);
  assert.deepEqual(m.ignored, ['-oem']);
});

test('cronie: -FCronDaemon -i -odi -oem -oi -t -f root', () => {
  const m = send(['-FCronDaemon', '-i', '-odi', '-oem', '-oi', '-t', '-f', 'root']);
  assert.equal(m.deliveryMode, 'interactive');
  assert.equal(m.extractRecipients, true);
  assert.equal(m.sender, 'root');
});

test('bsd-mailx and s-nail: -i -t -f from, -i -f from -- rcpts', () => {
  assert.equal(send(['-i', '-t', '-f', 'me@x.org']).sender, 'me@x.org');
  assert.deepEqual(send(['-i', '-f', 'me@x.org', '--', 'a@x.org', 'b@x.org']).recipients, ['a@x.org', 'b@x.org']);
});

test('mutt: -oem -oi -B8BITMIME -f envfrom -N notify -R ret -- to cc bcc', () => {
  const m = send(['-oem', '-oi', '-B8BITMIME', '-f', 'me@x.org', '-N', 'failure,delay', '-R', 'hdrs', '--', 'to@x.org', 'cc@x.org', 'bcc@x.org']);
  assert.deepEqual(m.dsn, { notify: ['FAILURE', 'DELAY'], ret: 'HDRS' });
  assert.equal(m.recipients.length, 3);
});

test('git send-email, logwatch, mdadm, unattended-upgrades, nodemailer', () => {
  assert.deepEqual(send(['-f', 'me@x.org', '-i', 'a@x.org', 'b@x.org']).recipients, ['a@x.org', 'b@x.org']);
  const lw = send(['-t']);
  assert.equal(lw.ignoreDots, false);
  assert.equal(send(['-oi', '-t']).ignoreDots, true);
  assert.equal(send(['-i', '-f', 'x@y.org', 'a@b.org']).sender, 'x@y.org');
});

test('fail2ban: one argument holding a comma-separated list', () => {
  assert.deepEqual(send(['-f', 'fail2ban@x.org', 'a@x.org, b@x.org']).recipients, ['a@x.org, b@x.org']);
});

test('grouped flags and attached values', () => {
  const m = send(['-tif', 'me@x.org', 'a@x.org']);
  assert.equal(m.extractRecipients, true);
  assert.equal(m.ignoreDots, true);
  assert.equal(m.sender, 'me@x.org');
  assert.equal(send(['-ti', '-fme@x.org']).sender, 'me@x.org');
  assert.equal(send(['-odq', 'a@x.org']).deliveryMode, 'queue');
  assert.equal(send(['-odb', 'a@x.org']).deliveryMode, 'background');
  assert.equal(send(['-r', 'old@x.org', 'a@x.org']).sender, 'old@x.org');
});

test('DSN options: -N never, -V envid (xtext decoded)', () => {
  assert.deepEqual(send(['-N', 'never', 'a@x.org']).dsn.notify, ['NEVER']);
  assert.equal(send(['-V', 'abc+2Bdef', 'a@x.org']).dsn.envid, 'abc+def');
  usageError(['-N', 'never,success', 'a@x.org'], /never/);
  usageError(['-N', 'sometimes', 'a@x.org'], /never/);
  usageError(['-R', 'body', 'a@x.org'], /full or hdrs/);
  usageError(['-B', '9BIT', 'a@x.org'], /7BIT or 8BITMIME/);
});

test('accepted and ignored flags', () => {
  const m = send([
    '-Am',
    '-c',
    '-G',
    '-h',
    '17',
    '-L',
    'label',
    '-m',
    '-n',
    '-O',
    'DeliveryMode=b',
    '-o7',
    '-pSMTP:x',
    '-s',
    '-U',
    '-X',
    '/tmp/x',
    '-x',
    '-d0.1',
    '-Mrfoo',
    'a@x.org',
  ]);
  assert.deepEqual(m.recipients, ['a@x.org']);
  assert.ok(m.ignored.length >= 10);
});

test('modes are never read as sending a message', () => {
  assert.equal(parseArgs(['-bs']).kind, 'smtp');
  assert.equal((parseArgs(['-bs', '-odq']) as { deliveryMode?: string }).deliveryMode, 'queue');
  assert.equal(parseArgs(['-bp']).kind, 'list');
  assert.equal(parseArgs(['-bi']).kind, 'newaliases');
  assert.equal(parseArgs(['-I']).kind, 'newaliases');
  assert.deepEqual((parseArgs(['-bv', 'root']) as { addresses: string[] }).addresses, ['root']);
  assert.equal(parseArgs(['-q']).kind, 'queue-run');
  assert.equal(parseArgs(['-bm', 'a@x.org']).kind, 'send');
  assert.equal(parseArgs([], 'mailq').kind, 'list');
  assert.equal((parseArgs(['--json'], 'mailq') as { json: boolean }).json, true);
  assert.equal(parseArgs([], 'newaliases').kind, 'newaliases');
});

test('queue runs: -q, -q15m, -bd, filters', () => {
  const q = parseArgs(['-q']);
  assert.deepEqual(q, {
    kind: 'queue-run',
    verbose: false,
    ignored: [],
    filter: { ids: [], recipients: [], senders: [] },
    intervalMs: undefined,
    daemon: false,
  });
  const d = parseArgs(['-q15m']) as { intervalMs: number; daemon: boolean };
  assert.equal(d.intervalMs, 15 * 60_000);
  assert.equal(d.daemon, true);
  const bd = parseArgs(['-bd', '-q1h']) as { intervalMs: number; daemon: boolean };
  assert.equal(bd.intervalMs, 3_600_000);
  assert.equal(bd.daemon, true);
  const f = parseArgs(['-qIABC', '-qRexample.com', '-qSroot']) as { filter: unknown };
  assert.deepEqual(f.filter, { ids: ['ABC'], recipients: ['example.com'], senders: ['root'] });
  usageError(['-qX'], /-qX/);
});

test('-q<interval>: the duration notation of duration.ts, a bare number in minutes (as sendmail)', () => {
  const interval = (v: string) => (parseArgs([`-q${v}`]) as { intervalMs?: number }).intervalMs;
  assert.equal(interval('30s'), 30_000);
  assert.equal(interval('1h30m'), 5_400_000);
  assert.equal(interval('2'), 120_000);
  assert.equal(interval('p15m'), 900_000);
  // Refused before -q, the file and --older-than shared one parser.
  assert.equal(interval('1.5h'), 5_400_000);
  usageError(['-qabc'], /-qabc/);
  usageError(['-q5x'], /-q5x/);
});

test('unknown flags and missing values exit 64 with one line', () => {
  usageError(['-Z'], /^-Z: unknown option$/);
  usageError(['-f'], /-f: option requires a value/);
  usageError(['--frobnicate'], /unknown option/);
  usageError(['-bt'], /unsupported mode/);
});

test('no injection through flag values or recipients', () => {
  usageError(['-f', 'a@x.org\nBcc: victim@y.org', 'r@x.org'], /line break/);
  usageError(['-F', 'Name\r\nX-Evil: 1', 'r@x.org'], /line break/);
  // Terminal controls in the full name would reach `outbox queue show` on root's terminal.
  usageError(['-F', 'Evil\x1b]0;title\x07', 'r@x.org'], /-F: value contains a control character/);
  usageError(['-FName\x9b2J', 'r@x.org'], /-F: value contains a control character/);
  assert.equal(parseArgs(['-F', 'Zoë Tab-less', 'r@x.org'], 'sendmail').kind, 'send');
  usageError(['r@x.org\nRCPT TO:<v@y>'], /^recipient "r@x\.org\\nRCPT TO:<v@y>" contains a line break/);
  usageError(['--', '-oQ/tmp'], /may not start with '-'/);
});

test('the flag table has one row per flag letter', () => {
  const letters = FLAGS.map((r) => r.flag);
  assert.equal(new Set(letters).size, letters.length);
  for (const r of FLAGS) assert.ok(r.meaning.length > 5, r.flag);
});

test('an empty value given as a separate argument is a usage error, never a crash (found by test/fuzz)', () => {
  for (const flag of ['-B', '-N', '-R', '-V']) {
    assert.throws(
      () => parseArgs([flag, '', 'a@example.com'], 'sendmail'),
      (e: unknown) => e instanceof OutboxError && e.exitCode === 64 && !e.message.includes('undefined'),
      flag,
    );
  }
});
