/**
 * Fuzz, end to end: a sample of random messages (test/fuzz/arbitraries.ts) submitted with the
 * built binary and delivered by `sendmail -q` to the local test relay. What the relay receives
 * must be exactly the stored bytes with every line break (LF, a lone CR) as CRLF (docs/command-line.md "The
 * message", oracle.ts wireForm), for every committed message, and each must arrive exactly once. Samples per run: FUZZ_DELIVER (default
 * 3 batches of 8 messages); scripts/test/torture runs more.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { run, SENDMAIL } from '../helpers/run.js';
import { relayEnv, type RelaySetup } from '../helpers/torture.js';
import { rawBytes, structured } from './arbitraries.js';
import { wireForm } from './oracle.js';

const BATCHES = Number(process.env.FUZZ_DELIVER ?? 3);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
let setup: RelaySetup | undefined;
after(async () => setup?.close());

/** The queue id named in the Received: line we prepend (first line of every stored message). */
function queueIdOf(data: Buffer): string | null {
  return /^Received: [^\r\n]*\r?\n\tid ([0-9A-Z]{12});/.exec(data.subarray(0, 2000).toString('latin1'))?.[1] ?? null;
}

test('random messages delivered to the relay arrive byte-exact (LF as CRLF), each exactly once', async () => {
  // The domain is pinned without a dot, so delivery qualifies nothing in the header whatever this
  // machine's /etc/mailname or FQDN say (that rule has its own tests: holds, identity).
  setup = await relayEnv({}, { OUTBOX_DOMAIN: 'vm' });
  const s = setup;
  // Long lines too: SMTP's 998-byte line limit is not enforced by Outbox (nor by the relay here);
  // lines are passed through unchanged.
  const longLines = fc
    .array(fc.integer({ min: 900, max: 20_000 }), { minLength: 1, maxLength: 3 })
    .map((ns) => Buffer.from(`Subject: long\n\n${ns.map((n) => 'L'.repeat(n)).join('\n')}\n`));
  const message = fc.tuple(fc.oneof(structured, rawBytes, longLines), fc.boolean());
  await fc.assert(
    fc.asyncProperty(fc.array(message, { minLength: 8, maxLength: 8 }), async (batch) => {
      s.relay.received.length = 0;
      const stored = new Map<string, Buffer>();
      for (const [input, ignoreDots] of batch) {
        const r = await run(SENDMAIL, ['-odq', ...(ignoreDots ? ['-i'] : []), 'rcpt@example.com'], { input, env: s.env });
        if (r.code !== 0) {
          assert.equal(r.code, 65, r.stderr); // the submit fuzz checks which inputs those are
          continue;
        }
      }
      for (const id of fs.readdirSync(path.join(s.t.spool, 'ctl'))) {
        stored.set(id, fs.readFileSync(path.join(s.t.spool, 'msg', id)));
      }
      const q = await run(SENDMAIL, ['-q'], { env: s.env, timeoutMs: 60_000 });
      assert.equal(q.code, 0, q.stderr);
      assert.deepEqual(fs.readdirSync(path.join(s.t.spool, 'ctl')), [], 'everything delivered');
      const seen = new Set<string>();
      for (const m of s.relay.received) {
        const id = queueIdOf(m.data);
        assert.ok(id && stored.has(id), `received a message that was not committed: ${JSON.stringify(m.data.subarray(0, 100).toString('latin1'))}`);
        assert.ok(!seen.has(id), `${id} delivered twice`);
        seen.add(id);
        const want = wireForm(stored.get(id)!);
        if (!m.data.equals(want)) {
          let i = 0;
          while (i < want.length && m.data[i] === want[i]) i++;
          assert.fail(
            `${id}: bytes differ at ${i}: got ${JSON.stringify(m.data.subarray(i, i + 40).toString('latin1'))}, stored ${JSON.stringify(want.subarray(i, i + 40).toString('latin1'))}`,
          );
        }
      }
      assert.equal(seen.size, stored.size);
    }),
    { numRuns: BATCHES, ...(SEED !== undefined ? { seed: SEED } : {}), includeErrorInReport: true },
  );
});
