/**
 * package.json's bin table: each command name runs the shim that calls main under that same name
 * (`npx outbox queue` must be the outbox command, not sendmail reading "queue" as a recipient).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { it } from 'node:test';
import { REPO } from '../../helpers/run.js';

it('every bin entry of package.json runs main under its own name', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  assert.deepEqual(Object.keys(pkg.bin).sort(), ['mailq', 'newaliases', 'outbox', 'sendmail']);
  for (const [name, file] of Object.entries(pkg.bin)) {
    const shim = fs.readFileSync(path.join(REPO, file), 'utf8');
    assert.deepEqual(
      [...shim.matchAll(/\brun\('([a-z]+)'\)/g)].map((m) => m[1]),
      [name],
      `${file} (bin.${name})`,
    );
  }
});
