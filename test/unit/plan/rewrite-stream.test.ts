/** Unit tests of the runner's half of rewriting (src/plan/rewrite-stream.ts). */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { groupMessage, headerSectionOf, readStoredHeader } from '../../../src/plan/rewrite-stream.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-rwstream-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}

describe('rewrite-stream', () => {
  it('finds the header section', () => {
    assert.deepEqual(headerSectionOf(Buffer.from('A: 1\nB: 2\n\nbody\n')), { text: 'A: 1\nB: 2\n', bodyOffset: 11 });
    assert.equal(headerSectionOf(Buffer.from('A: 1\n')), null);
  });

  it('streams the rewritten header and the stored body bytes unchanged (8-bit kept)', async () => {
    const f = path.join(dir, 'm');
    const body = Buffer.concat([Buffer.from('line 1\n\xe9t\xe9\n', 'latin1'), Buffer.alloc(200_000, 0x61), Buffer.from('\n')]);
    const stored = Buffer.concat([Buffer.from('From: a@host\nSubject: s\n\n'), body]);
    fs.writeFileSync(f, stored);
    const h = await readStoredHeader(f);
    assert.equal(h.text, 'From: a@host\nSubject: s\n');
    const same = groupMessage(f, h, { route: { relay: 'r' }, relay: 'r', recipients: ['x@y'], sender: 's', header: h.text, rewrites: [] }, stored.length);
    assert.deepEqual(await collect(same.stream), stored);
    const g = groupMessage(
      f,
      h,
      { route: { relay: 'r' }, relay: 'r', recipients: ['x@y'], sender: 's', header: 'From: a@example.com\nSubject: s\n', rewrites: ['x'] },
      stored.length,
    );
    const got = await collect(g.stream);
    assert.deepEqual(got, Buffer.concat([Buffer.from('From: a@example.com\nSubject: s\n\n'), body]));
    assert.equal(g.size, got.length);
  });
});
