// bench/config.ts — what reading the configuration costs every sendmail call.
// Parses outbox.conf.example (every key) and a one-line file N times in this process and prints
// the mean time per parse and the ratio to the one-line baseline. Run after the build:
//   node dist/bench/config.js [N]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readConfigFile } from '../src/config/file.js';
import { REPO } from '../test/helpers/run.js';

const n = Number(process.argv[2] ?? 2000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-bench-config-'));
const small = path.join(dir, 'small.conf');
fs.writeFileSync(small, 'domain = "example.com"\n');
const full = path.join(REPO, 'outbox.conf.example');
const time = (file: string): number => {
  for (let i = 0; i < 200; i++) readConfigFile(file); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) readConfigFile(file);
  return Number(process.hrtime.bigint() - t0) / 1e6 / n;
};
const base = time(small);
const ex = time(full);
fs.rmSync(dir, { recursive: true, force: true });
console.log(`config parse, one-line file (baseline): ${base.toFixed(3)} ms`);
console.log(`config parse, outbox.conf.example (${fs.statSync(full).size} bytes, every key): ${ex.toFixed(3)} ms (${(ex / base).toFixed(1)}x baseline)`);
