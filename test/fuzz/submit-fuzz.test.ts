/**
 * Property-based tests (fast-check) of submission through the BUILT binary: random messages and
 * random argv. Every run must end in exactly one of:
 *   - exit 0 and one committed message whose stored bytes are what test/fuzz/oracle.ts (the
 *     rules of docs/command-line.md) says, or
 *   - a non-zero sysexits status other than 70/75 (no internal error, no unexpected exception),
 *     one line on stderr, no stack trace, and nothing committed or left behind;
 * never a signal, never a hang (every run is bounded by a timeout).
 * Runs per property: FUZZ_RUNS (default 40; scripts/test/torture runs more). A failure prints the
 * seed and the shrunk counterexample; FUZZ_SEED=<n> repeats a run.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { run, SENDMAIL, tempSpool, type RunResult } from '../helpers/run.js';
import { compareStored, expected } from './oracle.js';
import { field, rawBytes, structured, textNoLf } from './arbitraries.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 40);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const params = (numRuns = RUNS) => ({ numRuns, ...(SEED !== undefined ? { seed: SEED } : {}), includeErrorInReport: true });

const s = tempSpool('outbox-fuzz-');
after(() => s.cleanup());
const CTL = path.join(s.spool, 'ctl');
const MSG = path.join(s.spool, 'msg');

function clearSpool() {
  for (const d of ['ctl', 'msg', 'tmp']) {
    const dir = path.join(s.spool, d);
    if (fs.existsSync(dir)) for (const n of fs.readdirSync(dir)) fs.unlinkSync(path.join(dir, n));
  }
}

function committed(): { rec: Record<string, any>; stored: string }[] {
  if (!fs.existsSync(CTL)) return [];
  return fs.readdirSync(CTL).map((id) => ({
    rec: JSON.parse(fs.readFileSync(path.join(CTL, id), 'utf8')),
    stored: fs.readFileSync(path.join(MSG, id), 'latin1'),
  }));
}

/** The rules for a failed run: a sysexits code that is not an internal error, one clean line. */
function assertCleanFailure(r: RunResult, what: string) {
  assert.equal(r.signal, null, `${what}: killed by ${r.signal}`);
  assert.ok(r.code !== null && [64, 65, 66, 67, 68, 69, 73, 77, 78].includes(r.code), `${what}: exit ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, /^sendmail: [^\n]+\n$/, `${what}: one line on stderr`);
  assert.doesNotMatch(r.stderr, /\n\s+at |Error: |TypeError|RangeError|undefined|\[object /, `${what}: no trace`);
  assert.deepEqual(committed(), [], `${what}: nothing committed`);
  const left = fs.existsSync(MSG) ? fs.readdirSync(MSG) : [];
  assert.deepEqual(left, [], `${what}: no half-written message left behind`);
}

async function submit(args: string[], input: Buffer) {
  clearSpool();
  return run(SENDMAIL, ['-odq', ...args], { input, env: s.env, timeoutMs: 30_000 });
}

/** Check one submission against the oracle. */
async function checkMessage(input: Buffer, ignoreDots: boolean, args: string[]) {
  const r = await submit([...(ignoreDots ? ['-i'] : []), ...args], input);
  const exp = expected(input, ignoreDots);
  const what = `input ${JSON.stringify(input.toString('latin1').slice(0, 200))} args ${JSON.stringify(args)}`;
  if (exp.kind === 'error') {
    assert.equal(r.code, 65, `${what}: expected 65 (${exp.why}), got ${r.code}: ${r.stderr}`);
    assertCleanFailure(r, what);
    return;
  }
  assert.equal(r.code, 0, `${what}: exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stderr, '');
  const c = committed();
  assert.equal(c.length, 1);
  const diff = compareStored(c[0]!.stored, exp);
  assert.equal(diff, null, `${what}: ${diff}`);
  assert.equal(c[0]!.rec.size, Buffer.byteLength(c[0]!.stored, 'latin1'));
}

test('structured messages (headers, folding, Bcc, dots, CRLF/LF/bare CR, 8-bit): stored as documented', async () => {
  await fc.assert(
    fc.asyncProperty(structured, fc.boolean(), async (input, ignoreDots) => {
      await checkMessage(input, ignoreDots, ['rcpt@example.com']);
    }),
    params(),
  );
});

test('random bytes (NUL, bare CR, anything): the documented result or a clean 65', async () => {
  await fc.assert(
    fc.asyncProperty(rawBytes, fc.boolean(), async (input, ignoreDots) => {
      await checkMessage(input, ignoreDots, ['rcpt@example.com']);
    }),
    params(),
  );
});

test('-t with random header fields: recipients only from To/Cc/Bcc, Bcc never stored', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(field, { maxLength: 8 }), fc.constantFrom('To', 'Cc', 'Bcc'), textNoLf(200), async (fields, kind, body) => {
      const input = Buffer.from(`${kind}: Someone <t@example.com>\n${fields.join('')}\n${body}\n`, 'latin1');
      const r = await submit(['-t', '-i'], input);
      const exp = expected(input, true);
      if (r.code === 0) {
        assert.equal(exp.kind, 'stored');
        const [c] = committed();
        assert.equal(compareStored(c!.stored, exp as Extract<typeof exp, { kind: 'stored' }>), null);
        // A message with Resent- fields goes to the resent recipients only (docs/command-line.md, -t).
        const resent = fields.some((f) => /^resent-(to|cc|bcc)[ \t]*:/i.test(f));
        if (!resent) assert.ok(c!.rec.recipients.some((x: { address: string }) => x.address === 't@example.com'));
        assert.doesNotMatch(c!.stored.split('\n\n')[0]!, /^(Resent-)?Bcc:/im);
      } else {
        // Malformed headers, or an address in a random To:/Cc:/Bcc: field that is not one: 65.
        // Resent- fields that name nobody (they replace To:): no recipients found, 64 (EX_USAGE).
        const none = /no recipient addresses found/.test(r.stderr);
        if (none)
          assert.ok(
            fields.some((f) => /^resent-(to|cc|bcc)[ \t]*:/i.test(f)),
            r.stderr,
          );
        assert.equal(r.code, none ? 64 : 65, r.stderr);
        assertCleanFailure(r, 'with -t');
      }
    }),
    params(),
  );
});

// ---- argv --------------------------------------------------------------------------------

const token = fc.oneof(
  fc.constantFrom(
    '-i',
    '-oi',
    '-t',
    '-oem',
    '-oee',
    '-m',
    '-n',
    '-U',
    '-G',
    '-x',
    '-s',
    '-c',
    '-v',
    '-Am',
    '-Ac',
    '--',
    '-',
    '-Z',
    '--bogus',
    '-o',
    '-B',
    '7BIT',
    '8BITMIME',
    '-B8BITMIME',
    '-BBOGUS',
    '-f',
    '-r',
    '-F',
    '-N',
    '-R',
    '-V',
    '-L',
    '-h',
    '-d',
    '-d0.1',
    '-e',
    '-O',
    '-M',
    '-p',
    '-T',
    '-fsender@example.com',
    '-f<>',
    '-f',
    '-F',
    'Full Name',
    '-NSUCCESS,FAILURE',
    '-Nnever',
    '-Nbogus',
    '-RHDRS',
    '-Rfull',
    '-Rnope',
    '-Venv123',
    '-C',
    '/nonexistent/outbox.conf',
    '-oQ/tmp',
    '-Ofoo=bar',
  ),
  fc.constantFrom(
    'a@example.com',
    'root',
    'www-data',
    'a@',
    '@b',
    'a@@b',
    '<a@example.com>',
    'Name <a@example.com>',
    'a b@example.com',
    '"a b"@example.com',
    'x@[192.0.2.1]',
    'a@example.com, b@example.com',
    'a@example.com;b@example.com',
    '\u00fc@example.de',
    'a@\u00fcber.de',
    '',
    'a@example.com\nBcc: evil@example.net',
    'a@example.com\r\nX-Injected: 1',
    '-fa@b\nX-Injected: 1',
    '-FName\nX-Injected: 1',
    '(comment) a@example.com',
    'a@example.com (comment)',
    'group: a@example.com, b@example.com;',
    '.a@example.com',
    'a..b@example.com',
    'x'.repeat(300) + '@example.com',
    'a@' + 'x'.repeat(300) + '.com',
  ),
  fc.string({ maxLength: 30 }),
);

test('random argv: success with clean recipients, or one clean error line; no injection', async () => {
  const message = Buffer.from('Subject: argv fuzz\nTo: to@example.com\n\nbody\n');
  await fc.assert(
    fc.asyncProperty(fc.array(token, { maxLength: 8 }), async (args) => {
      const r = await submit(args, message);
      const what = `args ${JSON.stringify(args)}`;
      assert.equal(r.signal, null, what);
      if (r.code !== 0) {
        assertCleanFailure(r, what);
        return;
      }
      const c = committed();
      assert.equal(c.length, 1, `${what}: exit 0 without exactly one message`);
      const { rec, stored } = c[0]!;
      for (const a of [rec.sender, ...rec.recipients.map((x: { address: string }) => x.address)]) {
        assert.doesNotMatch(a, /[\x00-\x1f\x7f]/, `${what}: control character in an address ${JSON.stringify(a)}`);
      }
      assert.ok(rec.recipients.length > 0);
      const header = stored.slice(0, stored.indexOf('\n\n') + 1);
      assert.doesNotMatch(header, /^(X-Injected|Bcc):/im, `${what}: header injection`);
      for (const line of header.split('\n').slice(0, -1)) assert.match(line, /^([!-9;-~]+:|[ \t])/, `${what}: ${JSON.stringify(line)}`);
    }),
    params(),
  );
});

// ---- the big ones ----------------------------------------------------------------------

test('100 KB lines, 10,000 headers, 5,000 recipients (arguments and one comma list), 2 MB of dots', async () => {
  const long = Buffer.from(`Subject: long\nX-Long: ${'h'.repeat(100_000)}\n\n${'b'.repeat(100_000)}\n${'\u00e9'.repeat(50_000)}\r\nend`, 'latin1');
  await checkMessage(long, true, ['rcpt@example.com']);
  const many = Buffer.from(Array.from({ length: 10_000 }, (_, i) => `X-H${i}: value ${i}\n`).join('') + '\nbody\n');
  await checkMessage(many, false, ['rcpt@example.com']);
  const dots = Buffer.from('Subject: dots\n\n' + '..\n.\n...x\n'.repeat(200_000) + '.\n');
  await checkMessage(dots, false, ['rcpt@example.com']);

  const rcpts = Array.from({ length: 5000 }, (_, i) => `user${i}@example.com`);
  let r = await submit(['-i', ...rcpts], Buffer.from('Subject: many\n\nx\n'));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(committed()[0]!.rec.recipients.length, 5000);
  r = await submit(['-i', rcpts.join(', ')], Buffer.from('Subject: many\n\nx\n'));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(committed()[0]!.rec.recipients.length, 5000);
  const toHeader = Buffer.from(`To: ${rcpts.join(',\n ')}\nSubject: many\n\nx\n`);
  r = await submit(['-i', '-t'], toHeader);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(committed()[0]!.rec.recipients.length, 5000);
  // One bad address among thousands: the whole submission is refused, nothing committed.
  r = await submit(['-i', ...rcpts.slice(0, 2000), 'bad@@example.com', ...rcpts.slice(2000)], Buffer.from('x\n'));
  assert.equal(r.code, 65);
  assertCleanFailure(r, 'one bad address among 5,000');
});
