/**
 * The shape of src/ (issue 12): no import circle between files, no file over 350 lines, a
 * header comment at the top of every file, nobody but entry.ts imports main.ts, and every
 * `src/...ts` path that a comment or a document names exists. Imports are read from the
 * compiled dist/src (static and `await import()`, test/helpers/src-graph.ts); line counts and
 * headers from src/ itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readDocs } from '../helpers/docs.js';
import { REPO } from '../helpers/run.js';
import { filesUnder, importCircles, srcGraph } from '../helpers/src-graph.js';

const MAX_LINES = 350;
const SRC = path.join(REPO, 'src');

/** Every .ts file under src/, relative to the repository ("src/runner/runner.ts"). */
function sourceFiles(): string[] {
  return filesUnder(SRC, '.ts').map((f) => path.join('src', f));
}

test('no import circle among the files of src/ (static and dynamic imports)', () => {
  const circles = importCircles(srcGraph());
  assert.deepEqual(
    circles.map((c) => c.map((f) => `src/${f.replace(/\.js$/, '.ts')}`).join(' -> ')),
    [],
    'import circles (each printed from its first file back to it)',
  );
});

test(`no file in src/ is over ${MAX_LINES} lines`, () => {
  const over = sourceFiles()
    .map((f) => ({ f, n: fs.readFileSync(path.join(REPO, f), 'utf8').split('\n').length - 1 }))
    .filter(({ n }) => n > MAX_LINES)
    .map(({ f, n }) => `${f}: ${n} lines`);
  assert.deepEqual(over, [], `files over ${MAX_LINES} lines`);
});

test('every file in src/ starts with a header comment', () => {
  const bare = sourceFiles().filter((f) => {
    const text = fs.readFileSync(path.join(REPO, f), 'utf8').replace(/^#!.*\n/, '');
    return !/^\s*(\/\*|\/\/)/.test(text);
  });
  assert.deepEqual(bare, [], 'files without a header comment at the top');
});

test('no file imports src/main.ts except src/entry.ts', () => {
  const importers = [...srcGraph()]
    .filter(([from, tos]) => from !== 'entry.js' && tos.includes('main.js'))
    .map(([from]) => `src/${from.replace(/\.js$/, '.ts')}`);
  assert.deepEqual(importers, [], 'files importing main.ts');
});

test('every src/...ts path named in a source comment or a document exists', () => {
  const texts = [...sourceFiles().map((f) => ({ file: f, text: fs.readFileSync(path.join(REPO, f), 'utf8') })), ...readDocs({ man: true })];
  const missing: string[] = [];
  for (const { file, text } of texts) {
    for (const m of text.matchAll(/\bsrc\/[\w./-]*\.ts\b/g)) {
      if (!fs.existsSync(path.join(REPO, m[0]))) missing.push(`${file} names ${m[0]}`);
    }
  }
  assert.deepEqual(missing, [], 'paths that do not exist');
});
