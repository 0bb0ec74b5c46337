/**
 * runner/pool.ts — the delivery engine's slot pool: at most N messages in flight, each in a
 * slot that keeps its own SMTP sessions (one per relay, relay-sessions.ts) from one message to
 * the next; the ids waiting for a free slot (each id once, in order), and the wait for "nothing
 * queued, nothing in flight". What a slot does with a message is the engine's (engine.ts).
 */
import type { Session } from '../relay/session.js';

/** One parallel delivery: its open sessions by relay name. */
export interface Slot {
  sessions: Map<string, Session>;
}

export class Pool<R> {
  readonly slots: Slot[] = [];
  /** Slots with no message in flight (their sessions are idle). */
  readonly free: Slot[] = [];
  private queue: { id: string; force: boolean }[] = [];
  private queued = new Set<string>();
  private inFlight = new Set<string>();
  private idleWaiters: (() => void)[] = [];
  private draining = false;

  /**
   * `work` delivers one message in a slot and never rejects; `done` is called with its result
   * once the slot is free again (before the next message takes it).
   */
  constructor(
    size: number,
    private readonly work: (id: string, slot: Slot, force: boolean) => Promise<R>,
    private readonly done: (r: R) => void,
  ) {
    for (let i = 0; i < Math.max(1, size); i++) {
      const s = { sessions: new Map<string, Session>() };
      this.slots.push(s);
      this.free.push(s);
    }
  }

  /** Queue a message id (once); `force` ignores nextAttempt. */
  enqueue(id: string, force: boolean): void {
    if (this.draining || this.queued.has(id) || this.inFlight.has(id)) return;
    this.queued.add(id);
    this.queue.push({ id, force });
    this.pump();
  }

  isBusyWith(id: string): boolean {
    return this.queued.has(id) || this.inFlight.has(id);
  }

  /** Messages queued or in flight. */
  get pending(): number {
    return this.queue.length + this.inFlight.size;
  }

  get busy(): boolean {
    return this.inFlight.size > 0;
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Take no new messages and forget the queued ones; those in flight go on. */
  drain(): void {
    this.draining = true;
    for (const j of this.queue) this.queued.delete(j.id);
    this.queue = [];
  }

  private pump(): void {
    while (!this.draining && this.queue.length > 0 && this.free.length > 0) {
      const job = this.queue.shift()!;
      this.queued.delete(job.id);
      const slot = this.free.pop()!;
      this.inFlight.add(job.id);
      void this.work(job.id, slot, job.force).then((r) => {
        this.inFlight.delete(job.id);
        this.free.push(slot);
        this.done(r);
        this.pump();
        if (this.queue.length === 0 && this.inFlight.size === 0) {
          const w = this.idleWaiters;
          this.idleWaiters = [];
          for (const f of w) f();
        }
      });
    }
  }
}
