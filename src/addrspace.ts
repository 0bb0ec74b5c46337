/**
 * addrspace.ts — is the caller's address-space limit (RLIMIT_AS, `ulimit -v`) too low for a
 * queue run? Then stop with one line instead of dying of an abort halfway through.
 *
 * The executable (Node 26 with --jitless --v8-pool-size=1, scripts/build/build.mjs) needs about
 * 620 MiB to start at all: V8 reserves its JS dispatch table (256 MiB) and Wasm code pointer
 * table (128 MiB) before our first line runs, so below that Node dies of SIGTRAP/SIGABRT and
 * nothing of ours can help (README "Where it runs"). A submission, mailq and -bs need little more
 * than that; a queue run needs more (TLS, libuv's thread pool, malloc arenas of its threads):
 * 704 MiB measured by bench/addrspace.ts, so QUEUE_RUN_MIB adds a margin. Between the two,
 * a queue run would die of SIGABRT when libuv cannot create a thread: it exits 75 instead.
 */
import { readFileSync } from 'node:fs';

export const QUEUE_RUN_MIB = 736;

/** The soft RLIMIT_AS in bytes, from /proc/self/limits; null when unlimited or unknown. */
export function addressSpaceLimit(limits?: string): number | null {
  let text = limits;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return null;
    }
  }
  const m = /^Max address space\s+(\d+)\s/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** One line when `limit` (bytes) is below what a queue run needs; null when it is enough. */
export function queueRunShortfall(limit: number | null): string | null {
  if (limit === null || limit >= QUEUE_RUN_MIB * 1024 * 1024) return null;
  return `the address-space limit (ulimit -v ${Math.floor(limit / 1024)}) is below the ${QUEUE_RUN_MIB} MiB a queue run needs: the mail stays queued; raise it to at least ulimit -v ${QUEUE_RUN_MIB * 1024}`;
}
