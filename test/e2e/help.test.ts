/**
 * End to end: `--help` on every program and every `outbox` command prints that command's usage
 * on stdout and exits 0, and the text is the one of src/cli/usage.ts (one source); the install
 * scripts print a clean usage (no comment marks, no shell code).
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { COMMANDS } from '../../src/commands/outbox.js';
import { COMMAND_USAGE, commandUsage, programUsage } from '../../src/cli/usage.js';
import { FLAGS } from '../../src/cli/flags.js';
import { MAILQ, NEWALIASES, OUTBOX, REPO, SENDMAIL, run } from '../helpers/run.js';

// An empty spool/config environment: --help must not need either.
const env = { OUTBOX_SPOOL: '/nonexistent/outbox-help-spool', OUTBOX_CONFIG: '/nonexistent/outbox.conf' };

async function help(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args, { env });
  assert.equal(r.code, 0, `${path.basename(cmd)} ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stderr, '', `${path.basename(cmd)} ${args.join(' ')}`);
  return r.stdout;
}

test('sendmail, mailq and newaliases --help print their usage and exit 0', async () => {
  const s = await help(SENDMAIL, ['--help']);
  assert.equal(s, programUsage('sendmail') + '\n');
  assert.match(s, /^usage: sendmail /);
  // The flag list is the flag table itself.
  for (const f of FLAGS) assert.match(s, new RegExp(`^  -${f.flag}`, 'm'), `-${f.flag} listed`);
  assert.equal(await help(SENDMAIL, ['-i', '--help']), s, 'also after other flags');
  assert.equal(await help(MAILQ, ['--help']), programUsage('mailq') + '\n');
  assert.equal(await help(NEWALIASES, ['--help']), programUsage('newaliases') + '\n');
});

test('outbox --help, -h and help list every command', async () => {
  const s = await help(OUTBOX, ['--help']);
  assert.equal(s, programUsage('outbox') + '\n');
  for (const name of Object.keys(COMMANDS)) assert.match(s, new RegExp(`^  ${name} +\\S`, 'm'), name);
  assert.equal(await help(OUTBOX, ['-h']), s);
  assert.equal(await help(OUTBOX, ['help']), s);
});

test('every outbox command and subcommand prints its usage on --help (and -h, and help CMD) with exit 0', async () => {
  assert.deepEqual(Object.keys(COMMAND_USAGE).sort(), Object.keys(COMMANDS).sort(), 'one usage text per command');
  for (const name of Object.keys(COMMANDS)) {
    const want = commandUsage(name) + '\n';
    assert.match(want, new RegExp(`^usage: outbox ${name}\\b`));
    assert.equal(await help(OUTBOX, [name, '--help']), want, `outbox ${name} --help`);
    assert.equal(await help(OUTBOX, [name, '-h']), want, `outbox ${name} -h`);
    assert.equal(await help(OUTBOX, ['help', name]), want, `outbox help ${name}`);
  }
  for (const args of [
    ['config', 'check', '--help'],
    ['config', 'migrate', '--help'],
    ['queue', 'show', '--help'],
    ['queue', 'hold', '--all', '--help'],
    ['deliver', '-C', '/x', '--help'],
  ]) {
    assert.equal(await help(OUTBOX, args), commandUsage(args[0]!) + '\n', args.join(' '));
  }
  const bad = await run(OUTBOX, ['help', 'frobnicate'], { env });
  assert.equal(bad.code, 64);
  assert.match(bad.stderr, /frobnicate: unknown command/);
});

test('usage errors quote the same text', async () => {
  const r = await run(OUTBOX, ['deliver', 'not-an-id'], { env });
  assert.equal(r.code, 64);
  assert.ok(r.stderr.includes(`(${commandUsage('deliver')})`), r.stderr);
  const q = await run(OUTBOX, ['queue', 'frobnicate'], { env });
  assert.equal(q.code, 64);
  assert.ok(q.stderr.endsWith(commandUsage('queue') + '\n'), q.stderr);
  assert.match(commandUsage('queue'), /7d, 2w\)/, 'the ages that work, up to weeks');
});

test('scripts/package/install.sh and uninstall.sh --help print a clean usage', async () => {
  for (const script of ['install.sh', 'uninstall.sh']) {
    const r = await run('/bin/sh', [path.join(REPO, 'scripts/package', script), '--help'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^scripts/package/${script.replace('.', '\\.')} — `));
    assert.match(r.stdout, new RegExp(`^  scripts/package/${script.replace('.', '\\.')} \\[`, 'm'), 'the synopsis');
    assert.doesNotMatch(r.stdout, /^#|shellcheck|set -eu/m);
  }
});
