// scripts/build/build-man.mjs — the manual pages: docs/man/NAME.SECTION.md (Markdown, the one source of
// each page's text) -> build/man/NAME.SECTION (roff), with remark-man (unified's Markdown-to-roff
// compiler; GitHub-flavoured tables through remark-gfm). No hand-written roff anywhere.
// Called by scripts/build/build.mjs; `man -l build/man/sendmail.8` shows a page.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Convert every page; returns the roff files written. */
export async function buildManPages(root, outDir) {
  const [{ unified }, { default: remarkParse }, { default: remarkGfm }, { default: remarkMan }] = await Promise.all([
    import('unified'),
    import('remark-parse'),
    import('remark-gfm'),
    import('remark-man'),
  ]);
  const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const src = path.join(root, 'docs', 'man');
  fs.mkdirSync(outDir, { recursive: true });
  const written = [];
  for (const name of fs
    .readdirSync(src)
    .filter((n) => /^[\w.-]+\.[1-8]\.md$/.test(n))
    .sort()) {
    const text = fs.readFileSync(path.join(src, name), 'utf8');
    const file = await unified()
      .use(remarkParse)
      .use(remarkGfm)
      .use(remarkMan, { manual: 'Outbox Manual', version: `outbox ${version}` })
      .process(text);
    const out = path.join(outDir, name.slice(0, -3));
    fs.writeFileSync(out, String(file));
    written.push(out);
  }
  return written;
}
