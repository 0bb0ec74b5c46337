/** The fuzz oracle itself, on hand-checked cases from docs/command-line.md (so that a wrong oracle cannot hide a bug). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareStored, expected, normalise, wireForm } from './oracle.js';

const B = (s: string) => Buffer.from(s, 'latin1');

test('normalise: CRLF, lone CR, dots with and without -i', () => {
  assert.equal(normalise('a\r\nb\rc\r\n', true), 'a\nb\rc\n');
  assert.equal(normalise('..x\n.\n..\n.\n', false), '.x\n.\n.\n');
  assert.equal(normalise('a\n.', false), 'a\n');
  assert.equal(normalise('a\n.\r\n', false), 'a\n');
  assert.equal(normalise('.\n', false), '');
  assert.equal(normalise('a\n.\nb\n', false), 'a\n.\nb\n', 'a lone dot with more after it is content');
  assert.equal(normalise('..x\n.\n', true), '..x\n.\n');
});

test('expected: header/body split, no headers, errors', () => {
  assert.deepEqual(expected(B('Subject: s\nBcc: x@y\n\tmore\nFrom: me\n\nbody'), true), {
    kind: 'stored',
    fields: 'Subject: s\nFrom: me\n',
    has: { from: true, date: false, messageId: false },
    body: 'body\n',
  });
  assert.deepEqual(expected(B('hello world\nSubject: no\n'), true), {
    kind: 'stored',
    fields: '',
    has: { from: false, date: false, messageId: false },
    body: 'hello world\nSubject: no\n',
  });
  assert.deepEqual(expected(B('From someone\nSubject: s\n'), true), {
    kind: 'stored',
    fields: 'Subject: s\n',
    has: { from: false, date: false, messageId: false },
    body: '',
  });
  assert.equal(expected(B(' continued\n'), true).kind, 'error');
  assert.equal(expected(B('Subject: s\nnot a field\n\nbody\n'), true).kind, 'error');
  assert.equal(expected(B('Subject: s\n\nnul \0 here\n'), true).kind, 'error');
});

test('compareStored: accepts the documented fix-ups, rejects a changed byte', () => {
  const exp = expected(B('Subject: s\n\nbody\n'), true);
  assert.equal(exp.kind, 'stored');
  if (exp.kind !== 'stored') return;
  const stored =
    'Received: by h (Outbox, from userid 0)\n\tid 1M815A0FX6KD; Sun, 22 Nov 2026 08:17:35 +0000\nSubject: s\nFrom: root <root@h>\nDate: Sun, 22 Nov 2026 08:17:35 +0000\nMessage-ID: <x@h>\n\nbody\n';
  assert.equal(compareStored(stored, exp), null);
  assert.notEqual(compareStored(stored.replace('body', 'bodY'), exp), null);
  assert.notEqual(compareStored(stored.replace('Subject: s\n', ''), exp), null);
  assert.notEqual(compareStored(stored.replace('Message-ID: <x@h>\n', ''), exp), null);
});

test('wireForm: every line break (LF, lone CR, CR before LF) is one CRLF', () => {
  assert.equal(wireForm(B('a\nb\rc\r\nd\n')).toString('latin1'), 'a\r\nb\r\nc\r\nd\r\n');
});
