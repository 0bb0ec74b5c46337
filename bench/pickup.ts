// bench/pickup.ts — how fast the runner moves a burst of dropped messages (incoming/) into the
// queue: PICKUP_PARALLEL entries at a time against one at a time (the baseline), measured in the
// same run on the same disk, each on a fresh burst written through the real drop target.
// Prints messages per second for both and the ratio. Run after the build:
//   node dist/bench/pickup.js [messages=200]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Config } from '../src/config/config.js';
import { submit } from '../src/submit/submit.js';
import { dropTarget } from '../src/spool/drop.js';
import { PICKUP_PARALLEL, pickupIncoming } from '../src/spool/pickup.js';
import { ensureSpool, spoolPaths } from '../src/spool/spool.js';

const n = Number(process.argv[2] ?? 200);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-bench-pickup-'));
// The settings pickup and the drop target read; the rest of a Config is never consulted here.
const config = {
  system: true,
  spool: path.join(dir, 'spool'),
  hostname: 'bench.example',
  domain: 'bench.example',
  delivery: 'queue',
  maxMessageSize: 0,
  orphanGraceSeconds: 3600,
  lockStaleMs: 30000,
  file: null,
} as unknown as Config;
const body = 'Subject: bench\n\n' + 'The quick brown fox jumps over the lazy dog.\n'.repeat(60);

async function burst(): Promise<void> {
  fs.rmSync(config.spool, { recursive: true, force: true });
  ensureSpool(config.spool);
  fs.mkdirSync(path.join(config.spool, 'incoming'), { mode: 0o1733 });
  const target = dropTarget(config.spool);
  for (let i = 0; i < n; i++) {
    await submit({
      config,
      submitter: { uid: 0, name: 'root' },
      recipients: ['a@example.com'],
      extractRecipients: false,
      ignoreDots: true,
      dsn: {},
      origin: 'sendmail',
      received: (id: string) => `by bench id ${id}`,
      input: (async function* () {
        yield Buffer.from(body);
      })(),
      target,
    });
  }
}

const log = { line(): void {} };
const results = new Map<number, number[]>();
for (const parallel of [1, PICKUP_PARALLEL, 1, PICKUP_PARALLEL]) {
  await burst();
  const t0 = process.hrtime.bigint();
  const r = await pickupIncoming(spoolPaths(config.spool), config, log, { parallel });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.queued.length !== n) throw new Error(`picked up ${r.queued.length} of ${n}`);
  results.set(parallel, [...(results.get(parallel) ?? []), n / s]);
}
fs.rmSync(dir, { recursive: true, force: true });
const base = Math.max(...results.get(1)!);
const par = Math.max(...results.get(PICKUP_PARALLEL)!);
console.log(`pickup of ${n} dropped messages (best of 2 bursts each):`);
console.log(`  one at a time (baseline): ${base.toFixed(0)} msg/s`);
console.log(`  ${PICKUP_PARALLEL} at a time:             ${par.toFixed(0)} msg/s`);
console.log(`  ratio: ${(par / base).toFixed(2)}x`);
