import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Normalizer } from '../../../src/message/normalize.js';

function norm(chunks: (string | Buffer)[], ignoreDots: boolean): { out: string; nul: boolean; eight: boolean } {
  const n = new Normalizer(ignoreDots);
  const parts: Buffer[] = [];
  for (const c of chunks) parts.push(...n.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c));
  parts.push(...n.end());
  return { out: Buffer.concat(parts).toString('latin1'), nul: n.sawNul, eight: n.sawEightBit };
}

/** text cut into chunks at the given offsets (modulo its length + 1). */
function cutAt(text: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const chunks: string[] = [];
  let last = 0;
  for (const p of points) {
    chunks.push(text.slice(last, p));
    last = p;
  }
  chunks.push(text.slice(last));
  return chunks;
}

test('CRLF becomes LF, a lone CR is kept, also across chunk boundaries', () => {
  assert.equal(norm(['a\r\nb\r\n'], true).out, 'a\nb\n');
  assert.equal(norm(['a\r', '\nb\rc\n'], true).out, 'a\nb\rc\n');
  assert.equal(norm(['a\r'], true).out, 'a\r');
  // PHP 8: CRLF headers, LF body.
  assert.equal(norm(['To: a@b\r\nSubject: x\r\n\r\nline1\nline2\n'], true).out, 'To: a@b\nSubject: x\n\nline1\nline2\n');
});

test('-i: dots are ordinary', () => {
  assert.equal(norm(['a\n.\nb\n..c\n.\n'], true).out, 'a\n.\nb\n..c\n.\n');
});

test('without -i: a final lone dot ends the message, .. is unstuffed', () => {
  assert.equal(norm(['a\n..b\n.\n'], false).out, 'a\n.b\n');
  assert.equal(norm(['a\n.'], false).out, 'a\n');
  assert.equal(norm(['.', '.x\n'], false).out, '.x\n');
  assert.equal(norm(['a\r\n.\r\n'], false).out, 'a\n');
});

test('without -i: a lone dot with more text after it is content (logwatch)', () => {
  assert.equal(norm(['log1\n.\nlog2\n'], false).out, 'log1\n.\nlog2\n');
  assert.equal(norm(['log1\n.\n', 'log2\n'], false).out, 'log1\n.\nlog2\n');
  assert.equal(norm(['log1\n.', '\n', 'log2\n'], false).out, 'log1\n.\nlog2\n');
});

test('NUL and 8-bit bytes are noticed', () => {
  assert.equal(norm(['a\0b\n'], true).nul, true);
  assert.equal(norm(['abc\n'], true).nul, false);
  assert.equal(norm([Buffer.from('caf\u00e9\n', 'utf8')], true).eight, true);
  assert.equal(norm(['plain\n'], true).eight, false);
});

test('property: the output does not depend on how the input is cut into chunks', () => {
  const alphabet = fc.constantFrom('a', '.', '\r', '\n', 'x', '\r\n', '.\n', '..');
  fc.assert(
    fc.property(fc.array(alphabet, { maxLength: 60 }), fc.array(fc.nat(60), { maxLength: 6 }), fc.boolean(), (parts, cuts, ignoreDots) => {
      const text = parts.join('');
      const whole = norm([text], ignoreDots).out;
      assert.equal(norm(cutAt(text, cuts), ignoreDots).out, whole);
    }),
    { numRuns: 500 },
  );
});

test('property: with -i, output is the input with CRLF replaced by LF', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const text = Buffer.from(bytes).toString('latin1');
      assert.equal(norm([Buffer.from(bytes)], true).out, text.replace(/\r\n/g, '\n'));
    }),
    { numRuns: 300 },
  );
});

/** The rule of docs/command-line.md, line by line: a final lone "." line is dropped, then ".." loses one dot. */
function dotOracle(text: string): string {
  const lines = text.replace(/\r\n/g, '\n').match(/[^\n]*\n|[^\n]+$/g) ?? [];
  const last = lines[lines.length - 1];
  if (last === '.' || last === '.\n') lines.pop();
  return lines.map((l) => (l.startsWith('..') ? l.slice(1) : l)).join('');
}

test('property: without -i, the output is the documented rule whatever the chunking', () => {
  const alphabet = fc.constantFrom('a', '.', '\r', '\n', 'x', '\r\n', '.\n', '..', '\n.', '\n..');
  fc.assert(
    fc.property(fc.array(alphabet, { maxLength: 80 }), fc.array(fc.nat(80), { maxLength: 8 }), (parts, cuts) => {
      const text = parts.join('');
      assert.equal(norm(cutAt(text, cuts), false).out, dotOracle(text));
    }),
    { numRuns: 1000 },
  );
});

test('without -i: a chunk full of dot lines comes out as at most two buffers (one write, not one per line)', () => {
  // 45 s for 2 MB of dot lines came from one output piece (one write) per unstuffed line.
  const n = new Normalizer(false);
  const chunk = '..\n.\n...x\n'.repeat(6_000);
  let pieces = 0;
  let out = '';
  for (const cut of [chunk.slice(0, 40_001), chunk.slice(40_001), 'tail\n']) {
    const got = n.push(Buffer.from(cut, 'latin1'));
    assert.ok(got.length <= 2, `push gave ${got.length} buffers`);
    pieces += got.length;
    out += Buffer.concat(got).toString('latin1');
  }
  assert.ok(pieces <= 6);
  assert.equal(out, '.\n.\n..x\n'.repeat(6_000) + 'tail\n');
});

test('without -i: long lines and many lines (past the 8 KB pieces unstuffing works on), whatever the chunking', () => {
  const line = fc.tuple(fc.constantFrom('', '.', '..', '...', 'x'), fc.nat(40_000), fc.constantFrom('\n', '\r\n', ''));
  fc.assert(
    fc.property(fc.array(line, { minLength: 1, maxLength: 40 }), fc.array(fc.nat(400_000), { maxLength: 6 }), (lines, cuts) => {
      // Every third line is 16 KB to 40 KB long; the others are short.
      const text = lines.map(([start, n, eol], k) => start + 'ab.c'.repeat(10_000).slice(0, k % 3 === 0 ? 16_000 + (n % 24_000) : n % 300) + eol).join('\n');
      assert.ok(text.length >= 16_000);
      assert.equal(norm(cutAt(text, cuts), false).out, dotOracle(text));
    }),
    { numRuns: 60 },
  );
});
