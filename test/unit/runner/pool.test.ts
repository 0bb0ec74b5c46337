import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from '../../../src/runner/pool.js';

/** A pool whose work is held open until released, recording the most slots in use at once. */
function heldPool(size: number) {
  const open = new Map<string, () => void>();
  const done: string[] = [];
  let busy = 0;
  let most = 0;
  const pool = new Pool<string>(
    size,
    async (id) => {
      busy++;
      most = Math.max(most, busy);
      await new Promise<void>((r) => open.set(id, r));
      busy--;
      return id;
    },
    (r) => void done.push(r),
  );
  const release = (id: string) => {
    const r = open.get(id);
    assert.ok(r, `${id} is in flight`);
    open.delete(id);
    r();
  };
  return { pool, release, done, most: () => most, inFlight: () => [...open.keys()] };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('pool', () => {
  it('runs at most `size` messages at once, in order, each id once', async () => {
    const p = heldPool(2);
    for (const id of ['a', 'b', 'c', 'a', 'd']) p.pool.enqueue(id, true);
    assert.deepEqual(p.inFlight(), ['a', 'b']);
    assert.equal(p.pool.pending, 4, 'a queued twice counts once');
    assert.ok(p.pool.isBusyWith('c') && !p.pool.isBusyWith('e'));
    p.release('a');
    await tick();
    assert.deepEqual(p.inFlight(), ['b', 'c']);
    p.release('b');
    p.release('c');
    await tick();
    p.release('d');
    await p.pool.idle();
    assert.deepEqual(p.done, ['a', 'b', 'c', 'd']);
    assert.equal(p.most(), 2);
    assert.equal(p.pool.free.length, 2, 'every slot is free again');
  });

  it('drain forgets the queued ids and takes no new ones; those in flight finish', async () => {
    const p = heldPool(1);
    p.pool.enqueue('a', true);
    p.pool.enqueue('b', true);
    p.pool.drain();
    p.pool.enqueue('c', true);
    assert.equal(p.pool.pending, 1);
    assert.equal(p.pool.busy, true);
    p.release('a');
    await p.pool.idle();
    assert.deepEqual(p.done, ['a']);
    assert.equal(p.pool.busy, false);
  });
});
