/** Unit tests: cli/args.ts, the one argument table of the `outbox` commands. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FORMS, has, parseForm, subcommand, value, wantsHelp } from '../../../src/cli/args.js';
import { COMMANDS } from '../../../src/commands/outbox.js';
import { OutboxError } from '../../../src/sysexits.js';

const usage = (f: () => unknown, message: string) =>
  assert.throws(f, (e: unknown) => e instanceof OutboxError && e.exitCode === 64 && e.message === message, message);

test('every form belongs to a command of the list, and every command has a form', () => {
  const commands = new Set(Object.keys(FORMS).map((f) => f.split(' ')[0]));
  assert.deepEqual([...commands].sort(), Object.keys(COMMANDS).sort());
});

test('-C FILE, -CFILE, --config FILE, --config=FILE: the same, in any place, the last one wins', () => {
  for (const args of [['-C', '/a'], ['-C/a'], ['--config', '/a'], ['--config=/a'], ['-C', '/x', '-v', '--config=/a']]) {
    assert.equal(parseForm('pickup', args).configFile, '/a', args.join(' '));
  }
  assert.equal(parseForm('pickup', []).configFile, undefined);
  assert.equal(parseForm('deliver', ['1M815A0FX6KD', '-C', '/a']).configFile, '/a');
  usage(() => parseForm('pickup', ['-C']), 'pickup: -C needs a file name (see outbox pickup --help)');
  usage(() => parseForm('pickup', ['--config']), 'pickup: --config needs a file name (see outbox pickup --help)');
  usage(() => parseForm('config migrate', ['-C', '/a', 'f']), 'config migrate: unknown option "-C" (see outbox config --help)');
});

test('values: separate or attached; repeatable options keep all; flags take none', () => {
  const p = parseForm('queue hold', ['--sender=a', '--sender', 'b', '--older-than', '1h', '--held', 'X']);
  assert.deepEqual(p.values.get('sender'), ['a', 'b']);
  assert.equal(value(p, 'older-than'), '1h');
  assert.equal(has(p, 'held'), true);
  assert.equal(has(p, 'deferred'), false);
  assert.deepEqual(p.operands, ['X']);
  assert.equal(value(parseForm('check', ['--timeout', '3', '--timeout=5']), 'timeout'), '5', 'the last one wins');
  assert.equal(has(parseForm('deliver', ['-v', 'ID']), 'v'), true);
  usage(() => parseForm('deliver', ['--v', 'ID']), 'deliver: unknown option "--v" (see outbox deliver --help)');
  usage(() => parseForm('deliver', ['-vv', 'ID']), 'deliver: -v takes no value ("-vv") (see outbox deliver --help)');
  usage(() => parseForm('queue hold', ['--all=yes']), 'queue hold: --all takes no value ("--all=yes") (see outbox queue --help)');
  usage(() => parseForm('queue hold', ['--sender']), 'queue hold: --sender needs a value (see outbox queue --help)');
});

test('operands: counted per form; -- ends the options', () => {
  assert.deepEqual(parseForm('oauth status', ['a', '--', '-b']).operands, ['a', '-b']);
  usage(() => parseForm('deliver', []), 'deliver: expected a queue id (see outbox deliver --help)');
  usage(() => parseForm('deliver', ['A', 'B']), 'deliver: unexpected argument "B" (see outbox deliver --help)');
  usage(() => parseForm('pickup', ['x']), 'pickup: unexpected argument "x" (see outbox pickup --help)');
  usage(() => parseForm('oauth login', []), 'oauth login: expected one RELAY (see outbox oauth --help)');
});

test('subcommand: the form the first word selects', () => {
  assert.deepEqual(subcommand('queue', ['show', 'X']), { form: 'queue show', rest: ['X'] });
  usage(() => subcommand('config', []), 'config: a subcommand is required (check, migrate) (see outbox config --help)');
  usage(() => subcommand('oauth', ['logout']), 'oauth: logout: unknown subcommand (expected login, status) (see outbox oauth --help)');
});

test('wantsHelp: --help or -h before --', () => {
  assert.equal(wantsHelp(['hold', '--all', '--help']), true);
  assert.equal(wantsHelp(['-C', '/x', '-h']), true);
  assert.equal(wantsHelp(['--', '--help']), false);
  assert.equal(wantsHelp(['hold']), false);
});

test('subcommand: -C may come before the subcommand word', () => {
  assert.deepEqual(subcommand('queue', ['-C', '/a', 'hold', 'X']), { form: 'queue hold', rest: ['-C', '/a', 'X'] });
  assert.deepEqual(subcommand('config', ['--config=/a', 'check']), { form: 'config check', rest: ['--config=/a'] });
  assert.equal(parseForm('queue hold', subcommand('queue', ['-C/a', 'hold', 'X']).rest).configFile, '/a');
});
