/**
 * test/helpers/docs.ts — the documentation as tests read it: README.md and the topic documents
 * docs/*.md (optionally the manual page sources docs/man/*.md), their fenced blocks, and the
 * anchors GitHub gives their headings. Used by the tests that keep the documentation true
 * (configuration examples, figures, links, the "How it works" diagram).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO } from './run.js';

export interface Doc {
  /** Path relative to the repository, e.g. "docs/configuration.md". */
  file: string;
  text: string;
}

/** README.md and docs/*.md, sorted; with `man`, docs/man/*.md as well. */
export function readDocs(opts: { man?: boolean } = {}): Doc[] {
  const names = ['README.md'];
  const add = (dir: string): void => {
    for (const n of fs.readdirSync(path.join(REPO, dir)).sort()) if (n.endsWith('.md')) names.push(`${dir}/${n}`);
  };
  add('docs');
  if (opts.man) add('docs/man');
  return names.map((file) => ({ file, text: fs.readFileSync(path.join(REPO, file), 'utf8') }));
}

/** One document by its path relative to the repository. */
export function readDoc(file: string): Doc {
  return { file, text: fs.readFileSync(path.join(REPO, file), 'utf8') };
}

export interface Block {
  file: string;
  lang: string;
  /** 1-based line number of the block's first content line. */
  line: number;
  text: string;
  /** The nearest heading of level 1 to 3 above the block. */
  section: string;
}

/** Fenced blocks (```lang ... ```) with their language, line and section. */
export function fencedBlocks(doc: Doc): Block[] {
  const out: Block[] = [];
  const lines = doc.text.split('\n');
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^#{1,3} /.test(l)) section = l.replace(/^#+ /, '');
    const m = /^```(\w*)\s*$/.exec(l);
    if (!m) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    out.push({ file: doc.file, lang: m[1]!, line: start + 1, text: lines.slice(start, end).join('\n') + '\n', section });
    i = end;
  }
  return out;
}

/** The lines of a document outside fenced blocks, with their 1-based numbers. */
export function proseLines(doc: Doc): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let fence = false;
  doc.text.split('\n').forEach((text, i) => {
    if (/^```/.test(text)) fence = !fence;
    else if (!fence) out.push({ line: i + 1, text });
  });
  return out;
}

/** GitHub's anchor for a heading's text: lower case, punctuation dropped, spaces as hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor of a document's headings (a repeated heading gets -1, -2, ... as on GitHub). */
export function anchors(doc: Doc): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const { text } of proseLines(doc)) {
    const m = /^#{1,6} (.*)$/.exec(text);
    if (!m) continue;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}
