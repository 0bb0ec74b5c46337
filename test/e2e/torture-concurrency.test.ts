/**
 * 200 concurrent submitters while two queue runners flush the same spool: every message is
 * delivered exactly once (the lock in src/spool/lock.ts is what makes two runners safe) and
 * complete. scripts/test/torture runs it with more submitters and runners.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SENDMAIL } from '../helpers/run.js';
import { concurrencyTorture } from '../helpers/torture.js';

test('200 concurrent submitters, two runners flushing: every message delivered exactly once', async () => {
  const r = await concurrencyTorture({ submitters: 200, runners: 2, sendmail: SENDMAIL });
  const summary = JSON.stringify({ ...r, failedSubmissions: r.failedSubmissions.slice(0, 5) });
  console.log(`# concurrency: ${summary}`);
  assert.deepEqual(r.failedSubmissions, [], summary);
  assert.equal(r.submitted, 200);
  assert.equal(r.delivered, 200, summary);
  assert.equal(r.lost, 0, summary);
  assert.equal(r.duplicates, 0, summary);
  assert.equal(r.incomplete, 0, summary);
  assert.ok(r.runnerRuns >= 2, summary);
});
