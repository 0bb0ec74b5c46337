/**
 * submit/child.ts — starting child processes and reading their outcome correctly.
 *
 * The bug class Outbox exists to never have: a parent that reports success for a child that
 * died. The rules, in one place (after execa's exit handling and dma's waitpid branches):
 *  - 'error' before 'spawn': the child never ran; no 'exit' will come. Failure (EX_OSERR).
 *  - exit with a null code: killed by a signal. Failure: 128 + signal number is reported, and
 *    statusForParent() maps it to EX_TEMPFAIL (the message stays queued), never 0.
 *  - exit with a non-zero code: that code passes through.
 *  - exit code 0: success, and only that.
 * 'close' (not 'exit') is awaited so that the child's stdio is drained before we decide.
 */
import type { SpawnOptions } from 'node:child_process';
import { constants } from 'node:os';
import { EX_OK, EX_OSERR, EX_TEMPFAIL } from '../sysexits.js';

export type ChildOutcome =
  { kind: 'exited'; code: number } | { kind: 'signaled'; signal: NodeJS.Signals; code: number } | { kind: 'spawn-error'; error: Error };

/**
 * Run a child to completion and describe how it ended. Never rejects. (child_process is loaded
 * here, on demand: loading it pulls in net, dgram and the stream machinery, which a plain
 * submission never needs.)
 */
export async function runChild(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<ChildOutcome> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    let spawned = false;
    let settled = false;
    const done = (o: ChildOutcome) => {
      if (!settled) {
        settled = true;
        resolve(o);
      }
    };
    let child;
    try {
      child = spawn(command, args, options);
    } catch (error) {
      done({ kind: 'spawn-error', error: error as Error });
      return;
    }
    child.once('spawn', () => {
      spawned = true;
    });
    child.once('error', (error) => {
      // Before 'spawn': it never ran. After: a failure to kill or to talk to it; 'close' follows.
      if (!spawned) done({ kind: 'spawn-error', error });
    });
    child.once('close', (code, signal) => {
      if (code === null) {
        const sig = (signal ?? 'SIGKILL') as NodeJS.Signals;
        const num = constants.signals[sig] ?? 9;
        done({ kind: 'signaled', signal: sig, code: 128 + num });
      } else done({ kind: 'exited', code });
    });
  });
}

/** The exit status a parent reports for its child: 0 only for a child that exited 0. */
export function statusForParent(o: ChildOutcome): number {
  switch (o.kind) {
    case 'exited':
      return o.code === 0 ? EX_OK : o.code;
    case 'signaled':
      return EX_TEMPFAIL;
    case 'spawn-error':
      return EX_OSERR;
  }
}

export function describeOutcome(o: ChildOutcome): string {
  switch (o.kind) {
    case 'exited':
      return `exited with status ${o.code}`;
    case 'signaled':
      return `killed by ${o.signal}`;
    case 'spawn-error':
      return `could not be started: ${o.error.message}`;
  }
}

/**
 * How to run this program again as the `outbox` command: the SEA executable itself (told its
 * name through argv0, whatever the file is called), the slim variant's launcher `outbox` (its
 * file name is the personality), or `node bin/outbox.js` when running from the JavaScript build
 * (development and unit tests).
 */
export function selfCommand(): { command: string; prefix: string[]; argv0: string } {
  const g = globalThis as { __outboxSea?: boolean; __outboxScriptDir?: string; __outboxSlim?: string };
  if (g.__outboxSlim) return { command: g.__outboxSlim, prefix: [], argv0: 'outbox' };
  if (g.__outboxSea || !g.__outboxScriptDir) return { command: process.execPath, prefix: [], argv0: 'outbox' };
  return { command: process.execPath, prefix: [`${g.__outboxScriptDir}/outbox.js`], argv0: process.execPath };
}
