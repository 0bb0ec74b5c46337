/**
 * test/helpers/src-graph.ts — the import graph of the compiled sources (dist/src), file by file:
 * static imports, re-exports and `import()` of a literal path, as TypeScript's own
 * preProcessFile reads them (so a path in a comment or a string is not an import, and an
 * `import type`, which leaves nothing in the JavaScript, is not one either). Used by the
 * architecture test (circles, who imports main.js) and the "How it works" diagram test.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import { REPO } from './run.js';

export const DIST_SRC = path.join(REPO, 'dist', 'src');

/** File (relative to dist/src, e.g. "runner/runner.js") -> the src files it imports. */
export type SrcGraph = Map<string, string[]>;

/** Every file under dir whose name ends with suffix, relative to dir, sorted. */
export function filesUnder(dir: string, suffix: string): string[] {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(suffix)) files.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return files.sort();
}

export function srcGraph(): SrcGraph {
  const graph: SrcGraph = new Map();
  for (const f of filesUnder(DIST_SRC, '.js')) {
    const info = ts.preProcessFile(fs.readFileSync(path.join(DIST_SRC, f), 'utf8'), true, true);
    const to = new Set<string>();
    for (const i of info.importedFiles) {
      if (!i.fileName.startsWith('.')) continue;
      const target = path.relative(DIST_SRC, path.resolve(DIST_SRC, path.dirname(f), i.fileName));
      if (!target.startsWith('..')) to.add(target);
    }
    graph.set(f, [...to].sort());
  }
  return graph;
}

/** The folder of src/ a file is in, or null for the files at the top of src/. */
export function folderOf(file: string): string | null {
  const i = file.indexOf('/');
  return i < 0 ? null : file.slice(0, i);
}

/** Every folder of src/. */
export function srcFolders(graph: SrcGraph): string[] {
  return [...new Set([...graph.keys()].map(folderOf).filter((f): f is string => f !== null))].sort();
}

/** "a --> b" for each pair of folders where a file in src/a imports one in src/b, with an example. */
export function folderEdges(graph: SrcGraph): Map<string, string> {
  const edges = new Map<string, string>();
  for (const [from, tos] of graph) {
    for (const to of tos) {
      const a = folderOf(from);
      const b = folderOf(to);
      if (a === null || b === null || a === b) continue;
      const key = `${a} --> ${b}`;
      if (!edges.has(key)) edges.set(key, `src/${from.replace(/\.js$/, '.ts')} imports src/${to.replace(/\.js$/, '.ts')}`);
    }
  }
  return new Map([...edges].sort(([x], [y]) => x.localeCompare(y)));
}

/** The import circles: each strongly connected group of files (Tarjan), with one circle through it. */
export function importCircles(graph: SrcGraph): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const groups: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1 || (graph.get(v) ?? []).includes(v)) groups.push(group.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return groups.map((g) => circleThrough(graph, g));
}

/** One circle inside a strongly connected group, from its first file back to it (breadth-first). */
function circleThrough(graph: SrcGraph, group: string[]): string[] {
  const inGroup = new Set(group);
  const start = group[0]!;
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!inGroup.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let x: string | undefined = v; x !== undefined && x !== start; x = prev.get(x)) path.splice(1, 0, x);
        return [...path, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return group;
}
