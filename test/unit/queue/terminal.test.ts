/** Unit tests: control characters made visible for a terminal (queue/terminal.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeControls, escapeJsonControls, isTerminal } from '../../../src/queue/terminal.js';

test('ESC, BEL, CR, DEL and C1 controls become visible; tab and line feed stay', () => {
  assert.equal(escapeControls('a\x1b]0;title\x07b'), 'a^[]0;title^Gb');
  assert.equal(escapeControls('Subject: \x1b[2J\x1b[H\n'), 'Subject: ^[[2J^[[H\n');
  assert.equal(escapeControls('over\rwrite\x7f'), 'over^Mwrite^?');
  assert.equal(escapeControls('csi\u009b2J'), 'csiM-^[2J');
  assert.equal(escapeControls('\x00'), '^@');
  assert.equal(escapeControls('tab\tand\nline, Zoë, 日本'), 'tab\tand\nline, Zoë, 日本');
});

test('a terminal is a stream with isTTY', () => {
  assert.equal(isTerminal({ isTTY: true } as unknown as NodeJS.WritableStream), true);
  assert.equal(isTerminal({} as NodeJS.WritableStream), false);
});

test('JSON on a terminal: DEL and C1 controls as \\u escapes, the same value', () => {
  const json = JSON.stringify({ lastError: 'x\u009b2Jy\x7f\x1b' });
  const out = escapeJsonControls(json);
  assert.equal(out, '{"lastError":"x\\u009b2Jy\\u007f\\u001b"}');
  assert.deepEqual(JSON.parse(out), JSON.parse(json));
});
