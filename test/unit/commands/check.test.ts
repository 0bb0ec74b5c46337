/** Unit tests of the pure parts of `outbox check` (src/commands/check.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { verdictOf } from '../../../src/commands/check.js';

describe('outbox check helpers', () => {
  it('verdicts', () => {
    assert.equal(
      verdictOf([
        { level: 'ok', text: '' },
        { level: 'info', text: '' },
      ]),
      'OK',
    );
    assert.equal(
      verdictOf([
        { level: 'ok', text: '' },
        { level: 'warn', text: '' },
      ]),
      'WARN',
    );
    assert.equal(
      verdictOf([
        { level: 'warn', text: '' },
        { level: 'fail', text: '' },
      ]),
      'FAIL',
    );
    assert.equal(verdictOf([{ level: 'config', text: '' }]), 'FAIL');
  });
});
