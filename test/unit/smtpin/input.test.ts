/**
 * Unit tests of smtpin/input.ts: the DATA dot decoder (against a simple whole-buffer reference
 * decoder, with every way of splitting the input into chunks) and the bounded line reader.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DotDecoder, HeaderWatch, InputQueue, TimeoutError, readLine } from '../../../src/smtpin/input.js';
import { isFieldLine } from '../../../src/message/headers.js';

/** Reference: split into lines (LF ended), stop at a line that is "." or ".\r", unstuff. */
function reference(input: string): { body: string; rest: string } | null {
  let pos = 0;
  let body = '';
  while (pos < input.length) {
    const nl = input.indexOf('\n', pos);
    if (nl < 0) return null;
    const line = input.slice(pos, nl + 1);
    pos = nl + 1;
    if (line === '.\n' || line === '.\r\n') return { body, rest: input.slice(pos) };
    body += line.startsWith('.') ? line.slice(1) : line;
  }
  return null;
}

function decodeInChunks(input: string, cuts: number[]): { body: string; rest: string } | null {
  const buf = Buffer.from(input, 'latin1');
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, buf.length]) {
    chunks.push(buf.subarray(prev, p));
    prev = p;
  }
  const dec = new DotDecoder();
  let body = '';
  for (let i = 0; i < chunks.length; i++) {
    const { out, rest } = dec.push(chunks[i]!);
    body += Buffer.concat(out).toString('latin1');
    if (dec.done) {
      const after = Buffer.concat([rest ?? Buffer.alloc(0), ...chunks.slice(i + 1)]);
      return { body, rest: after.toString('latin1') };
    }
  }
  return null;
}

describe('DotDecoder', () => {
  it('unstuffs and stops at the end marker, CRLF and bare LF', () => {
    assert.deepEqual(decodeInChunks('a\r\n..b\r\n.c\r\n.\r\nQUIT\r\n', []), { body: 'a\r\n.b\r\nc\r\n', rest: 'QUIT\r\n' });
    assert.deepEqual(decodeInChunks('a\n..\n.\nNOOP\n', []), { body: 'a\n.\n', rest: 'NOOP\n' });
    assert.deepEqual(decodeInChunks('.\r\n', []), { body: '', rest: '' });
    assert.equal(decodeInChunks('a\r\n. \r\nb\r\n', []), null);
  });

  it('a lone CR after a leading dot is content', () => {
    assert.deepEqual(decodeInChunks('.\rx\n.\n', [1, 2]), { body: '\rx\n', rest: '' });
  });

  it('matches the reference decoder for any input and any chunking', () => {
    const alphabet = fc.constantFrom('.', '\r', '\n', 'a', ' ', '\r\n', '.\r\n', '..', '\n.\n');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 40 }), fc.array(fc.nat(200), { maxLength: 8 }), (parts, cuts) => {
        const input = parts.join('');
        assert.deepEqual(decodeInChunks(input, cuts), reference(input));
      }),
      { numRuns: 2000 },
    );
  });
});

function queueOf(...chunks: string[]): InputQueue {
  const q = new InputQueue(null, 1024, 200);
  for (const c of chunks) q.push(Buffer.from(c));
  q.end();
  return q;
}

describe('readLine', () => {
  it('reads CRLF and bare-LF lines across chunks, and null at the end', async () => {
    const q = queueOf('HE', 'LO a\r', '\nNOOP\nQU', 'IT\r\n', 'partial');
    assert.deepEqual(await readLine(q, 100), { line: 'HELO a', tooLong: false });
    assert.deepEqual(await readLine(q, 100), { line: 'NOOP', tooLong: false });
    assert.deepEqual(await readLine(q, 100), { line: 'QUIT', tooLong: false });
    assert.equal(await readLine(q, 100), null);
  });

  it('swallows an over-long line without keeping it, then reads the next one', async () => {
    const q = queueOf('x'.repeat(500), 'y'.repeat(5000), '\r\nNOOP\r\n');
    assert.deepEqual(await readLine(q, 100), { line: null, tooLong: true });
    assert.deepEqual(await readLine(q, 100), { line: 'NOOP', tooLong: false });
    const exact = queueOf('z'.repeat(100) + '\r\n' + 'z'.repeat(101) + '\n');
    assert.equal((await readLine(exact, 100))?.line, 'z'.repeat(100));
    assert.equal((await readLine(exact, 100))?.tooLong, true);
  });

  it('times out an idle client', async () => {
    const q = new InputQueue(null, 1024, 50);
    await assert.rejects(readLine(q, 100), TimeoutError);
  });

  it('drops a client that drips a command line slower than the idle time allows', async () => {
    const q = new InputQueue(null, 1024, 200);
    const drip = setInterval(() => q.push(Buffer.from('N')), 40);
    const t0 = Date.now();
    try {
      await assert.rejects(readLine(q, 100_000), TimeoutError);
    } finally {
      clearInterval(drip);
    }
    // About 200 ms; without the line deadline the drip would go on for over an hour.
    assert.ok(Date.now() - t0 < 5000);
  });

  it('pauses its source above the high-water mark and resumes when drained', async () => {
    const calls: string[] = [];
    const q = new InputQueue({ pause: () => calls.push('pause'), resume: () => calls.push('resume') }, 100, 1000);
    for (let i = 0; i < 30; i++) q.push(Buffer.from('NOOP\r\n'));
    assert.deepEqual(calls, ['pause']);
    for (let i = 0; i < 30; i++) assert.equal((await readLine(q, 100))?.line, 'NOOP');
    assert.deepEqual(calls, ['pause', 'resume']);
  });
});

describe('HeaderWatch', () => {
  const watch = (chunks: string[], limit = 100) => {
    const w = new HeaderWatch(limit, isFieldLine);
    let ok = true;
    for (const c of chunks) ok = w.feed(Buffer.from(c, 'latin1')) && ok;
    return { ok, done: w.done };
  };
  it('ends at the first empty line, CRLF or LF, across chunks', () => {
    assert.deepEqual(watch(['Subject: a\r', '\n\r', '\nbody']), { ok: true, done: true });
    assert.deepEqual(watch(['A: b\n', '\n']), { ok: true, done: true });
    assert.deepEqual(watch(['A: b\r\n B\r\n']), { ok: true, done: false });
  });
  it('a first line that is not a header field means no header section', () => {
    assert.deepEqual(watch(['hello world\n', 'x'.repeat(1000)]), { ok: true, done: true });
  });
  it('refuses a header section over the limit, but not a long body', () => {
    assert.deepEqual(watch(['X: ' + 'a'.repeat(50) + '\r\n', 'Y: ' + 'b'.repeat(60) + '\r\n']), { ok: false, done: false });
    assert.deepEqual(watch(['X: a\r\n\r\n', 'b'.repeat(1000)]), { ok: true, done: true });
  });
});
