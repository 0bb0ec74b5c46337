/**
 * Every relative link of README.md and docs/ (the topic documents and the manual page sources)
 * leads somewhere: the file exists, and an `#anchor` is a heading of the target (GitHub's
 * anchors). Links in code blocks and code spans are not links; http(s) and mailto links are not
 * checked (no network in tests).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { anchors, proseLines, readDoc, readDocs } from '../helpers/docs.js';
import { REPO } from '../helpers/run.js';

test('the documents have links to check (the extraction is not silently empty)', () => {
  const n = readDocs({ man: true }).reduce((k, d) => k + [...d.text.matchAll(/\]\([^)]+\)/g)].length, 0);
  assert.ok(n >= 50, `only ${n} links found`);
});

test('every relative link and anchor in README.md and docs/ resolves', () => {
  const broken: string[] = [];
  for (const doc of readDocs({ man: true })) {
    for (const { line, text } of proseLines(doc)) {
      const prose = text.replace(/`[^`]*`/g, '');
      for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^(https?|mailto):/.test(target)) continue;
        const hash = target.indexOf('#');
        const file = hash < 0 ? target : target.slice(0, hash);
        const anchor = hash < 0 ? '' : target.slice(hash + 1);
        const rel = file === '' ? doc.file : path.normalize(path.join(path.dirname(doc.file), file));
        const where = `${doc.file}:${line}: (${target})`;
        if (rel.startsWith('..') || !fs.existsSync(path.join(REPO, rel))) {
          broken.push(`${where}: no file ${rel}`);
          continue;
        }
        if (anchor && rel.endsWith('.md') && !anchors(readDoc(rel)).has(anchor)) broken.push(`${where}: no heading #${anchor} in ${rel}`);
      }
    }
  }
  assert.deepEqual(broken, [], 'broken links');
});
