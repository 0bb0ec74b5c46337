/**
 * Relay faults under load, short version (scripts/test/torture runs 5,000 messages): a queue flushed
 * with `sendmail -q` while the relay restarts (sometimes slow to answer), connections are cut at
 * random, DATA is dropped half-way and greetings are refused. Every message is delivered exactly
 * once, apart from copies whose first delivery travelled on a connection that was cut (the
 * client may never have seen the 250): those are counted and reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SENDMAIL } from '../helpers/run.js';
import { relayFaultTorture } from '../helpers/torture.js';

test('relay restarting, slow, dropping connections during a flush: all delivered, none twice without a cut', async () => {
  const seed = Number(process.env.TORTURE_SEED ?? Date.now() % 100000);
  const r = await relayFaultTorture({ messages: 400, seed, sendmail: SENDMAIL, chaosMs: 6000 });
  const summary = JSON.stringify({ ...r, details: r.details.slice(0, 10) });
  console.log(`# relay faults: ${summary}`);
  assert.equal(r.lost, 0, summary);
  assert.equal(r.halfWritten, 0, summary);
  assert.equal(r.unexplainedDuplicates, 0, summary);
  assert.equal(r.delivered, 400, summary);
  assert.ok(r.restarts + r.drops + r.midDataDrops + r.greetingRefusals >= 5, `too little chaos: ${summary}`);
});
