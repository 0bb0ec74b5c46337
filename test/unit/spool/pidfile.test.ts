/**
 * spool/pidfile.ts: run/daemon.pid names at most one runner, however many start at the same
 * moment (two background kicks at once, or a kick beside `sendmail -bd`). Real processes, started
 * together on a shared start time, each try to claim the file; exactly one may.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const pidfileJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src/spool/pidfile.js');

/** A process that claims run/ at `at` (ms since the epoch), prints "claimed" or "other", then stays 0.5 s. */
function claimer(runDir: string, at: number): Promise<string> {
  const code = `
    const { claimPidFile } = await import(${JSON.stringify(pidfileJs)});
    while (Date.now() < ${at}) {}
    const other = claimPidFile(${JSON.stringify(runDir)});
    process.stdout.write(other === null ? 'claimed' : 'other');
    setTimeout(() => {}, 500);
  `;
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('error', reject);
    c.on('close', () => resolve(out));
  });
}

test('processes claiming run/daemon.pid at the same moment: exactly one gets it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-pidfile-'));
  try {
    for (let round = 0; round < 3; round++) {
      const run = path.join(dir, `run${round}`);
      fs.mkdirSync(run);
      const at = Date.now() + 1500; // every process has loaded the module by then
      const results = await Promise.all(Array.from({ length: 6 }, () => claimer(run, at)));
      assert.equal(results.filter((r) => r === 'claimed').length, 1, `round ${round}: ${results.join(' ')}`);
      assert.equal(results.filter((r) => r === 'other').length, 5, `round ${round}: ${results.join(' ')}`);
      assert.ok(!fs.existsSync(path.join(run, 'daemon.pid.lock')), 'the claim lock is given back');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
