/**
 * The submit path and mailq must stay lean: every `sendmail` call pays for what it loads.
 * Walks the STATIC imports of the compiled modules (dynamic `await import()` is where heavy
 * modes are loaded on demand, and is not followed) and checks what each entry pulls in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const distSrc = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

function staticGraph(entry: string): { files: Set<string>; packages: Set<string>; builtins: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const builtins = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const code = fs.readFileSync(file, 'utf8');
    // `import ... from 'x'` and `export ... from 'x'`, not `import('x')`.
    for (const m of code.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec));
      else if (spec.startsWith('node:')) {
        // `import type` leaves nothing behind in the compiled JavaScript, so every match loads.
        builtins.add(spec);
      } else packages.add(spec.split('/')[0]!.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  };
  visit(path.join(distSrc, entry));
  return { files, packages, builtins };
}

const HEAVY = ['nodemailer', 'mailparser', 'commander', 'proper-lockfile', 'smtp-server'];

test('main.js statically loads nothing but itself, io, sysexits and the version (package.json, data only)', () => {
  const g = staticGraph('main.js');
  assert.deepEqual([...g.packages], []);
  assert.deepEqual([...g.files].map((f) => path.relative(distSrc, f)).sort(), ['../package.json', 'io.js', 'main.js', 'sysexits.js']);
});

test('the submit path loads no SMTP client, parser library, CLI framework or lock library', () => {
  const g = staticGraph('submit/command.js');
  for (const p of HEAVY) assert.ok(!g.packages.has(p), `submit path loads ${p}`);
  // Relative to src/: the checkout may itself sit in a folder named runner/ or queue/.
  for (const f of g.files) assert.ok(!/^(runner|smtpin|queue)\//.test(path.relative(distSrc, f)), `submit path loads ${path.relative(distSrc, f)}`);
  // child_process pulls in net, dgram and the stream machinery (about 3 ms): only a kick loads it.
  for (const b of ['node:child_process', 'node:net', 'node:tls', 'node:crypto', 'node:readline']) {
    assert.ok(!g.builtins.has(b), `submit path statically loads ${b}`);
  }
});

test('a submission without a configuration file loads no TOML parser (config/resolve.ts, spool/stranded.ts)', () => {
  // main.ts loads these for `sendmail` (submit/command.js, checked above); config/file.js, with
  // smol-toml and the key tables, only when there is a file to read (loadConfigLazily).
  for (const entry of ['submit/command.js', 'config/resolve.js', 'spool/stranded.js']) {
    const g = staticGraph(entry);
    assert.ok(!g.packages.has('smol-toml'), `${entry} loads smol-toml`);
    for (const f of g.files) assert.ok(!/^config\/(file|config)\.js$/.test(path.relative(distSrc, f)), `${entry} loads ${path.relative(distSrc, f)}`);
  }
});

test('mailq loads no SMTP client and no lock library', () => {
  const g = staticGraph('queue/mailq.js');
  for (const p of HEAVY) assert.ok(!g.packages.has(p), `mailq loads ${p}`);
});
