// bench/sweep.ts — one pickup pass over N fresh junk names in incoming/ (nothing to remove: they
// are within the grace period) against what a pass cost before the sweep was bounded: a readdir
// and one lstat per name, measured in the same run on the same directory. Prints both and the
// ratio, three times. Usage: node dist/bench/sweep.js [names=200000] (after `npm run build`).
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pickupIncoming } from '../src/spool/pickup.js';
import { ensureSpool, spoolPaths } from '../src/spool/spool.js';

const n = Number(process.argv[2] ?? 200000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-sweep-bench-'));
const spool = path.join(dir, 'spool');
ensureSpool(spool);
const inc = path.join(spool, 'incoming');
fs.mkdirSync(inc, { mode: 0o1733 });
for (let i = 0; i < n; i++) fs.closeSync(fs.openSync(path.join(inc, `junk-${i}`), 'w'));
const config = {
  system: true,
  spool,
  hostname: 'b.example',
  domain: 'b.example',
  delivery: 'queue',
  maxMessageSize: 0,
  orphanGraceSeconds: 3600,
  lockStaleMs: 30000,
  file: null,
  maxPendingPerUser: 0,
} as unknown as Parameters<typeof pickupIncoming>[1];
const log = { line() {} } as unknown as Parameters<typeof pickupIncoming>[2];
for (let k = 0; k < 3; k++) {
  let t = process.hrtime.bigint();
  const r = await pickupIncoming(spoolPaths(spool), config, log);
  const pass = Number(process.hrtime.bigint() - t) / 1e6;
  t = process.hrtime.bigint();
  const names = await fsp.readdir(inc);
  for (const x of names) await fsp.lstat(path.join(inc, x));
  const old = Number(process.hrtime.bigint() - t) / 1e6;
  console.log(
    `names=${n} pass=${pass.toFixed(0)} ms (removed ${r.swept}); baseline readdir+lstat every name (the old pass)=${old.toFixed(0)} ms; ratio ${(old / pass).toFixed(1)}x`,
  );
}
fs.rmSync(dir, { recursive: true, force: true });
