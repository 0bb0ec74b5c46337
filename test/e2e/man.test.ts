/**
 * The manual pages (docs/man/*.md -> build/man/ by scripts/build/build-man.mjs) render with man(1)
 * without a warning, and stay true to the program: every configuration key the parser knows is
 * in outbox.conf(5), every OUTBOX_* variable the source reads is in its ENVIRONMENT section, and
 * every `outbox` command is in outbox(8). (install.test.ts checks that they are installed.)
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { KNOWN_KEYS } from '../../src/config/keys.js';
import { BIN_DIR, REPO } from '../helpers/run.js';

const MAN_DIR = path.join(BIN_DIR, 'man');
const PAGES = ['sendmail.8', 'mailq.1', 'newaliases.8', 'outbox.8', 'outbox.conf.5'];

/** The page as man(1) prints it: plain text, 80 columns, groff warnings on stderr. */
function render(page: string): { text: string; warnings: string } {
  const file = path.join(MAN_DIR, page);
  const text = execFileSync('man', ['--warnings', '-l', file], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat', LANG: 'C.UTF-8' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const warnings = execFileSync('sh', ['-c', 'man --warnings -l "$1" 2>&1 >/dev/null', 'sh', file], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MANWIDTH: '80', LANG: 'C.UTF-8' },
    encoding: 'utf8',
  });
  return { text, warnings };
}

for (const page of PAGES) {
  test(`man -l ${page} renders, without warnings`, () => {
    const { text, warnings } = render(page);
    assert.equal(warnings, '');
    const [name, section] = [page.slice(0, page.lastIndexOf('.')), page.slice(page.lastIndexOf('.') + 1)];
    assert.match(text, new RegExp(`^${name.toUpperCase().replace('.', '\\.')}\\(${section}\\)`, 'm'));
    for (const heading of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'SEE ALSO']) assert.match(text, new RegExp(`^${heading}$`, 'm'), `${page}: ${heading}`);
    assert.doesNotMatch(text, /&(quot|#39|lt|gt|amp);|<br>/, 'no HTML left in the roff');
  });
}

test('outbox.conf(5) names every key the configuration parser knows', () => {
  const { text } = render('outbox.conf.5');
  const flat = text.replace(/‐\n\s*/g, '').replace(/\s+/g, ' ');
  const missing = Object.values(KNOWN_KEYS)
    .flat()
    .filter((k) => !new RegExp(`(^|[^a-z_])${k}([^a-z_]|$)`).test(flat));
  assert.deepEqual(missing, []);
});

test('outbox.conf(5) names every OUTBOX_* variable the program reads', () => {
  const vars = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) for (const m of fs.readFileSync(p, 'utf8').matchAll(/(?<![A-Z0-9_])OUTBOX_[A-Z0-9_]*[A-Z0-9]/g)) vars.add(m[0]);
    }
  };
  walk(path.join(REPO, 'src'));
  vars.delete('OUTBOX_VERSION'); // a constant, not a variable
  assert.ok(vars.has('OUTBOX_RELAY'), 'the scan found the variables');
  const { text } = render('outbox.conf.5');
  const env = text.slice(text.indexOf('\nENVIRONMENT\n'), text.indexOf('\nSEE ALSO\n')).replace(/‐\n\s*/g, '');
  assert.deepEqual([...vars].filter((v) => !env.includes(v)).sort(), []);
});

test('outbox(8) names every outbox command', async () => {
  const { text } = render('outbox.8');
  const src = fs.readFileSync(path.join(REPO, 'src', 'commands/outbox.ts'), 'utf8');
  const commands = [...src.matchAll(/^\s+'?([\w-]+)'?: \(\) => import\(/gm)].map((m) => m[1]!);
  assert.ok(commands.length >= 6, `found the command table: ${commands.join(', ')}`);
  assert.deepEqual(
    commands.filter((c) => !new RegExp(`outbox ${c}\\b`).test(text)),
    [],
  );
});
