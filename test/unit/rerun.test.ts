import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rerunIfBusy } from '../../src/rerun.js';

/** A task whose runs are counted and held open until released. */
function gatedTask(): { task: () => Promise<void>; runs: () => number; release: () => void } {
  let runs = 0;
  let open: (() => void)[] = [];
  return {
    task: async () => {
      runs++;
      await new Promise<void>((r) => open.push(r));
    },
    runs: () => runs,
    release: () => {
      const o = open;
      open = [];
      for (const f of o) f();
    },
  };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('rerunIfBusy', () => {
  it('runs once at a time; calls while busy make exactly one more run', async () => {
    const g = gatedTask();
    const run = rerunIfBusy(g.task);
    const first = run();
    assert.equal(run.busy, true);
    await run(); // busy: resolves at once
    await run();
    await run();
    assert.equal(g.runs(), 1, 'no second run while the first is in progress');
    g.release();
    await tick();
    assert.equal(g.runs(), 2, 'one more run for the three calls');
    g.release();
    await first;
    assert.equal(g.runs(), 2);
    assert.equal(run.busy, false);
  });

  it('the task asks for another run by returning true', async () => {
    let left = 3;
    let runs = 0;
    const run = rerunIfBusy(async () => {
      runs++;
      return --left > 0;
    });
    await run();
    assert.equal(runs, 3);
  });

  it('stops repeating, and does nothing, once stopped', async () => {
    let stopped = false;
    let runs = 0;
    const run = rerunIfBusy(
      async () => {
        runs++;
        stopped = true;
        return true;
      },
      () => stopped,
    );
    await run();
    await run();
    assert.equal(runs, 1);
  });
});
