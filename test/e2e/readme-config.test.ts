/**
 * End-to-end: every configuration example of the documentation (README.md and docs/*.md) is
 * valid, as the built binary reads it.
 *
 * The rule: each ```toml block is written to a file and checked with
 * `outbox config check --no-secrets -C FILE`, which must exit 0. --no-secrets because the
 * examples name secret files (password_file, client_secret_file) that the reader creates and
 * this test must not; every other check (keys, values, URLs, relay/route references, the oauth
 * table) runs. A block with no [relay.NAME] table is a fragment meant to be added to a file
 * that has one: a plain relay is appended to it. So the test does not depend on the host, the
 * file gets `aliases = <an empty file>` first (unless the block sets aliases itself: then
 * /etc/aliases is not read), a temporary spool, and no inherited OUTBOX_* variable.
 * The environment-only variants (```sh blocks of docs/providers.md that export OUTBOX_*
 * variables) are checked the same way, as variables, with a file holding only `aliases`.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fencedBlocks, readDocs } from '../helpers/docs.js';
import { OUTBOX, run, tempSpool } from '../helpers/run.js';

const t = tempSpool('outbox-readme-config-');
after(() => t.cleanup());
const aliases = path.join(t.dir, 'aliases');
fs.writeFileSync(aliases, '');

const all = readDocs().flatMap(fencedBlocks);
const toml = all.filter((b) => b.lang === 'toml');
const PROVIDERS = 'docs/providers.md';
const envBlocks = all.filter((b) => b.lang === 'sh' && b.file === PROVIDERS && /^export OUTBOX_/m.test(b.text));

let n = 0;
async function check(text: string, env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  const f = path.join(t.dir, `readme-${++n}.conf`);
  fs.writeFileSync(f, text, { mode: 0o600 });
  const r = await run(OUTBOX, ['config', 'check', '--no-secrets', '-C', f], { env: { ...t.env, ...env }, timeoutMs: 30_000 });
  return { code: r.code, out: `${r.stdout}${r.stderr}` };
}

describe('configuration examples of the documentation', () => {
  it('finds the examples (the extraction is not silently empty)', () => {
    assert.ok(toml.length >= 8, `only ${toml.length} toml blocks`);
    assert.ok(toml.filter((b) => b.file === PROVIDERS).length >= 6, 'provider setup toml blocks');
    assert.ok(envBlocks.length >= 3, `only ${envBlocks.length} environment-only variants`);
  });

  for (const b of toml) {
    it(`${b.file}:${b.line} (${b.section}): outbox config check --no-secrets accepts it`, async () => {
      let text = /^\s*aliases\s*=/m.test(b.text) ? b.text : `aliases = ${JSON.stringify(aliases)}\n${b.text}`;
      if (!/^\s*\[relay\.[\w-]+\]/m.test(b.text)) text += '\n[relay.fragment]\nurl = "smtp://127.0.0.1:25"\n';
      const r = await check(text);
      assert.equal(r.code, 0, `${b.file}:${b.line}:\n${b.text}\n${r.out}`);
      assert.match(r.out, /configuration OK/);
    });
  }

  for (const b of envBlocks) {
    it(`${b.file}:${b.line} (${b.section}): the environment-only variant is accepted`, async () => {
      const env: Record<string, string> = {};
      for (const m of b.text.matchAll(/^export (OUTBOX_\w+)=(\S+)$/gm)) env[m[1]!] = m[2]!;
      assert.ok(env.OUTBOX_RELAY, 'the block sets OUTBOX_RELAY');
      const r = await check(`aliases = ${JSON.stringify(aliases)}\n`, env);
      assert.equal(r.code, 0, `${b.file}:${b.line}:\n${b.text}\n${r.out}`);
      assert.match(r.out, /relay env \(OUTBOX_RELAY\): /);
    });
  }
});
