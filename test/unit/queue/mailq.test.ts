import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTotal } from '../../../src/queue/mailq.js';

test("the total line rounds up to whole Kbytes, as Postfix's postqueue does", () => {
  assert.equal(formatTotal(218, 1), '-- 1 Kbytes in 1 Request.\n');
  assert.equal(formatTotal(1024, 2), '-- 1 Kbytes in 2 Requests.\n');
  assert.equal(formatTotal(1025, 2), '-- 2 Kbytes in 2 Requests.\n');
  assert.equal(formatTotal(0, 1), '-- 0 Kbytes in 1 Request.\n');
});
