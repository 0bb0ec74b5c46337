/**
 * The documentation's figures for the size of the single executable match the one the build made
 * (they drifted once: "150 MB" in one section, 117 MB in another).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readDocs } from '../helpers/docs.js';
import { OUTBOX, REPO } from '../helpers/run.js';

test('every size the README and docs/ give for the executable is the built one (MB, +-5%)', () => {
  const readme = readDocs()
    .map((d) => d.text)
    .join('\n');
  const mb = fs.statSync(OUTBOX).size / 1e6;
  const claims = [
    Number(/the executable embeds Node and is (\d+) MB/.exec(readme)?.[1]),
    Number(/symbol tables stripped \(\d+ MB -> (\d+) MB/.exec(readme)?.[1]),
  ];
  const deb = fs.readFileSync(path.join(REPO, 'scripts/package/build-deb'), 'utf8');
  claims.push(Number(/the executable is (\d+) MB/.exec(deb)?.[1]));
  for (const c of claims) assert.ok(Math.abs(c - mb) <= mb * 0.05, `docs/build-deb say ${c} MB, build/outbox is ${mb.toFixed(1)} MB`);
});
