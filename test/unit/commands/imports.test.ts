/**
 * The commands' import rules, checked over the compiled modules (dist/src), static and dynamic
 * imports alike: nothing imports the dispatcher (main.js) but the entry points; a command never
 * imports another command's module (only its own parts, named after it: check-queue.js is part
 * of check.js; the one argument table is cli/args.js); nothing below the commands imports one
 * (the queue daemon reads a user's `outbox queue` arguments with queue/request.js); and
 * commands/outbox.js is the one module that loads the command modules, i.e. lists the commands.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const distSrc = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src');

/** Every module of dist/src (relative paths) with the modules it imports (relative to dist/src). */
function imports(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js')) {
        const code = fs.readFileSync(p, 'utf8');
        const specs = [
          ...code.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+['"](\.[^'"]+)['"]/gm),
          ...code.matchAll(/\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g),
          ...code.matchAll(/^\s*import\s+['"](\.[^'"]+)['"]/gm),
        ].map((m) => path.relative(distSrc, path.resolve(dir, m[1]!)));
        out.set(path.relative(distSrc, p), specs);
      }
    }
  };
  walk(distSrc);
  return out;
}

const graph = imports();

test('the scan sees the dispatcher and the commands', () => {
  assert.ok((graph.get('main.js') ?? []).includes('commands/outbox.js'));
  assert.ok((graph.get('commands/outbox.js') ?? []).includes('commands/deliver.js'));
  assert.ok(graph.size > 50, `${graph.size} modules`);
});

test('no module imports the dispatcher (main.js) but the entry point', () => {
  const importers = [...graph].filter(([, specs]) => specs.includes('main.js')).map(([f]) => f);
  assert.deepEqual(importers, ['entry.js']);
});

test("a command imports no other command's module, only the shared argument table", () => {
  const commands = [...graph.keys()].filter((f) => f.startsWith('commands/') && f !== 'commands/outbox.js');
  assert.ok(commands.length >= 8, commands.join(' '));
  for (const f of commands) {
    // A command's own parts are named after it (commands/check-queue.js is part of `outbox check`).
    const own = `commands/${path.basename(f, '.js')}-`;
    const siblings = graph.get(f)!.filter((s) => s.startsWith('commands/') && !s.startsWith(own));
    assert.deepEqual(siblings, [], `${f} imports ${siblings.join(', ')}`);
  }
});

test('commands/outbox.js is the one module that loads the command modules; only the dispatcher reuses one', () => {
  const users: Record<string, string[]> = {};
  for (const [f, specs] of graph) {
    const used = [...new Set(specs.filter((s) => s.startsWith('commands/')))].sort();
    if (!f.startsWith('commands/') && used.length > 0) users[f] = used;
  }
  assert.deepEqual(users, {
    // The dispatcher: `outbox COMMAND`, and sendmail -bi / -bv, which are newaliases's functions.
    'main.js': ['commands/newaliases.js', 'commands/outbox.js'],
  });
});
