/**
 * Crash torture, short version (scripts/test/torture runs the long one): real submitters, some killed
 * at random offsets, and the queue runner killed with SIGKILL before connecting, at connect,
 * after MAIL FROM, mid-DATA and after the relay's 250 (before the spool update), in turn, against
 * the local test relay. Afterwards every committed message was delivered at least once, nothing
 * half-written or uncommitted was ever delivered (bytes compared), and every duplicate is one
 * whose earlier copy went to a runner that was killed before it could record it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SENDMAIL } from '../helpers/run.js';
import { runnerCrashTorture } from '../helpers/torture.js';

test('runner and submitters killed at every point: nothing lost, nothing half-written, duplicates only after a kill', async () => {
  const seed = Number(process.env.TORTURE_SEED ?? Date.now() % 100000);
  const r = await runnerCrashTorture({ iterations: 15, perIteration: 6, submitterKills: 2, seed, sendmail: SENDMAIL });
  const summary = JSON.stringify({ ...r, details: r.details.slice(0, 10) });
  console.log(`# crash torture: ${summary}`);
  assert.equal(r.lost, 0, summary);
  assert.equal(r.halfWritten, 0, summary);
  assert.equal(r.unexplainedDuplicates, 0, summary);
  assert.ok(r.committed >= 40, summary);
  assert.equal(r.delivered, r.committed, summary);
  for (const point of ['before-connect', 'connect', 'mail', 'data', 'accepted'] as const) {
    assert.ok(r.kills[point] >= 1, `no kill happened at ${point}: ${summary}`);
  }
});
