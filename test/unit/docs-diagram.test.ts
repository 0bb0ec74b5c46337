/**
 * The "How it works" diagram of docs/DEVELOPING.md (a Mermaid flowchart: one node per folder of
 * src/, `a --> b` where a file in src/a imports one in src/b) matches the imports of the compiled
 * sources (static and `await import()`, test/helpers/src-graph.ts). A failure says which line to
 * add to the diagram or remove from it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fencedBlocks, readDoc } from '../helpers/docs.js';
import { folderEdges, srcFolders, srcGraph } from '../helpers/src-graph.js';

const DOC = 'docs/DEVELOPING.md';

/** The diagram's folders and arrows. */
function diagram(): { nodes: Set<string>; edges: Set<string> } {
  const block = fencedBlocks(readDoc(DOC)).find((b) => b.lang === 'mermaid' && b.section === 'How it works');
  assert.ok(block, `${DOC} has a mermaid block under "## How it works"`);
  const nodes = new Set<string>();
  const edges = new Set<string>();
  for (const line of block.text.split('\n')) {
    const e = /^\s*([\w-]+)\s*-->\s*([\w-]+)\s*$/.exec(line);
    if (e) {
      edges.add(`${e[1]} --> ${e[2]}`);
      nodes.add(e[1]!).add(e[2]!);
      continue;
    }
    const n = /^\s*([\w-]+)\s*(\[.*\])?\s*$/.exec(line);
    if (n && n[1] !== 'flowchart') nodes.add(n[1]!);
  }
  return { nodes, edges };
}

test(`${DOC} "How it works" shows every folder of src/ and no other`, () => {
  const { nodes } = diagram();
  const folders = srcFolders(srcGraph());
  const fixes = [
    ...folders.filter((f) => !nodes.has(f)).map((f) => `add the folder: ${f}`),
    ...[...nodes].filter((n) => !folders.includes(n)).map((n) => `remove ${n}: src/${n}/ does not exist (or holds no module)`),
  ];
  assert.deepEqual(fixes, [], `${DOC}, the mermaid block of "## How it works"`);
});

test(`${DOC} "How it works" shows exactly the imports between the folders of src/`, () => {
  const { edges } = diagram();
  const actual = folderEdges(srcGraph());
  const fixes = [
    ...[...actual].filter(([e]) => !edges.has(e)).map(([e, why]) => `add the line "  ${e}" (${why})`),
    ...[...edges]
      .filter((e) => !actual.has(e))
      .map((e) => `remove the line "  ${e}": no file in src/${e.split(' --> ')[0]}/ imports one in src/${e.split(' --> ')[1]}/`),
  ];
  assert.deepEqual(fixes, [], `${DOC}, the mermaid block of "## How it works"`);
});
