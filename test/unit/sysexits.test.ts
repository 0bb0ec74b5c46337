import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SYSEXITS, sysexit, exitCodeOf, describeError, OutboxError, EX_TEMPFAIL, EX_CANTCREAT, EX_CONFIG } from '../../src/sysexits.js';

test('the table has each code once, with an enhanced status code and text', () => {
  assert.equal(new Set(SYSEXITS.map((r) => r.code)).size, SYSEXITS.length);
  for (const r of SYSEXITS) {
    assert.match(r.dsn, /^[245]\.\d\.\d$/);
    assert.ok(r.text.length > 3);
  }
  assert.equal(sysexit(12345).code, EX_TEMPFAIL, 'unknown codes fall back to 75');
});

test('anything unexpected is 75, never 0', () => {
  assert.equal(exitCodeOf(new Error('boom')), EX_TEMPFAIL);
  assert.equal(exitCodeOf(undefined), EX_TEMPFAIL);
  assert.equal(exitCodeOf('string'), EX_TEMPFAIL);
  assert.equal(exitCodeOf(new OutboxError(EX_CONFIG, 'x')), EX_CONFIG);
});

test('OS errors: disk full is temporary, permissions are "cannot create", said plainly', () => {
  const err = (code: string) => Object.assign(new Error(code), { code, syscall: 'write', path: '/var/spool/outbox/msg/X' });
  assert.equal(exitCodeOf(err('ENOSPC')), EX_TEMPFAIL);
  assert.equal(exitCodeOf(err('EDQUOT')), EX_TEMPFAIL);
  assert.equal(exitCodeOf(err('EFBIG')), EX_TEMPFAIL);
  assert.equal(exitCodeOf(err('EACCES')), EX_CANTCREAT);
  assert.equal(exitCodeOf(err('EROFS')), EX_CANTCREAT);
  assert.match(describeError(err('ENOSPC')), /no space left on device \(write \/var\/spool\/outbox\/msg\/X\); the message was not queued, try again later/);
  assert.doesNotMatch(describeError(err('EACCES')), /try again/);
});
