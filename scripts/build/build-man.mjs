// scripts/build/build-man.mjs — the manual pages: docs/man/NAME.SECTION.md (Markdown, the one source of
// each page's text) -> build/man/NAME.SECTION (roff), with remark-man (unified's Markdown-to-roff
// compiler; GitHub-flavoured tables through remark-gfm). No hand-written roff anywhere.
// Each page's SYNOPSIS is not written in its Markdown: the line SYNOPSIS_MARK there is replaced
// by the usage forms of src/cli/usage.ts (synopsis(), from the compiled dist/), the one source
// of every usage text, with UPPERCASE placeholders in italics and the rest as typed.
// Called by scripts/build/build.mjs after tsc; `man -l build/man/sendmail.8` shows a page.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const SYNOPSIS_MARK = '<!-- SYNOPSIS: generated from src/cli/usage.ts by scripts/build-man.mjs -->';

/** One usage form as Markdown: `literal` words, _placeholders_, brackets and bars as they are. */
export function formMarkdown(form) {
  const md = form
    .split(/(\s+|[[\]()|]|\.\.\.)/)
    .filter(Boolean)
    .map((tok) => {
      if (/^(\s+|[[\]()|]|\.\.\.)$/.test(tok)) return tok;
      if (/^[A-Z][A-Z0-9_:]*$/.test(tok)) return `_${tok.toLowerCase()}_`;
      const m = /^(-[-\w]*?[a-z=])([A-Z][A-Z0-9_]+)$/.exec(tok);
      return m ? `\`${m[1]}\`_${m[2].toLowerCase()}_` : `\`${tok}\``;
    })
    .join('');
  return md.replace(/` `/g, ' ');
}

/** The SYNOPSIS body of page NAME (sendmail, mailq, newaliases, outbox): one form per line. */
async function synopsisMarkdown(root, name) {
  const { synopsis } = await import(path.join(root, 'dist/src/cli/usage.js'));
  return synopsis(name).map(formMarkdown).join('\\\n');
}

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
    let text = fs.readFileSync(path.join(src, name), 'utf8');
    if (text.includes(SYNOPSIS_MARK)) text = text.replace(SYNOPSIS_MARK, await synopsisMarkdown(root, name.split('.')[0]));
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
