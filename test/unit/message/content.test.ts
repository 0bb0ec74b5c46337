/** Unit tests: message/content.ts, the submission content rules applied to stored bytes (pickup). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_HEADER_BYTES, StoredMessageCheck } from '../../../src/message/content.js';

/** Run the check over `text` cut into chunks of `size` bytes. */
function check(text: string | Buffer, size = 7): string | null {
  const b = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1');
  const c = new StoredMessageCheck();
  for (let i = 0; i < b.length; i += size) {
    const e = c.push(b.subarray(i, i + size));
    if (e) return e;
  }
  return c.end();
}

test('a stored message passes, in any chunking; so do a message without headers and one without a body', () => {
  const good = 'Received: from uid 1000\nSubject: hi\n\tcontinued\nFrom: a@example.test\n\nbody\r with a lone CR\n';
  for (const size of [1, 2, 7, 64, 4096]) assert.equal(check(good, size), null);
  assert.equal(check('\nall body\n'), null);
  assert.equal(check('Subject: only headers\n'), null);
  assert.equal(check(''), null);
});

test("NUL anywhere (what a sparse file's hole reads as), a bare CR or a non-field line in the header section: refused", () => {
  assert.match(check('Subject: x\n\nbody\0\n')!, /NUL byte/);
  assert.match(check(Buffer.alloc(1 << 20))!, /NUL byte/);
  assert.match(check('Subject: x\rBcc: y@example.com\n\nb\n')!, /bare CR/);
  assert.match(check('Subject: x\nnot a field\n\nb\n')!, /line 2 of the header section is not a header field/);
  assert.match(check(' continuation first\n\nb\n')!, /continuation/);
});

test('a header section over the limit is refused without holding more than the limit', () => {
  const c = new StoredMessageCheck();
  const line = Buffer.from('X-Filler: ' + 'x'.repeat(1000) + '\n');
  let err: string | null = null;
  for (let i = 0; i < (MAX_HEADER_BYTES / line.length) * 2 && !err; i++) err = c.push(line);
  assert.match(err!, /header section is larger than/);
});
