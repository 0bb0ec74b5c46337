import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  makeQueueId,
  isQueueId,
  parseControl,
  serializeControl,
  ControlFormatError,
  withHistory,
  MAX_HISTORY,
  type ControlRecord,
} from '../../../src/spool/format.js';

const rec: ControlRecord = {
  v: 1,
  id: '1M814N5E8KZM',
  arrival: 1,
  uid: 0,
  user: 'root',
  sender: 's@x',
  recipients: [{ address: 'a@x', status: 'pending' }],
  body: '7BIT',
  smtputf8: false,
  size: 10,
  origin: 'sendmail',
  attempts: 0,
  nextAttempt: 0,
  hold: false,
  history: [],
};

test('queue ids are 12 characters and sort by time', () => {
  const a = makeQueueId(1_795_334_772_168, () => 31);
  const b = makeQueueId(1_795_334_772_169, () => 0);
  assert.equal(a.length, 12);
  assert.ok(isQueueId(a) && isQueueId(b));
  assert.ok(a < b);
  assert.equal(isQueueId('1M814N5E8KZI'), false); // no I, L, O, U
});

test('control records round-trip and keep unknown fields', () => {
  const text = serializeControl({ ...rec, futureField: { x: 1 } });
  const back = parseControl(text);
  assert.deepEqual(back.futureField, { x: 1 });
  assert.equal(back.recipients[0]!.address, 'a@x');
});

test('required fields, and versions newer than this program, are refused', () => {
  assert.throws(() => parseControl('{'), ControlFormatError);
  assert.throws(() => parseControl(JSON.stringify({ ...rec, v: 2 })), /newer/);
  assert.throws(() => parseControl(JSON.stringify({ ...rec, recipients: [] })), /no recipients/);
  assert.throws(() => parseControl(JSON.stringify({ ...rec, id: '../etc' })), /id/);
});

test('history stays bounded', () => {
  let r = rec;
  for (let i = 0; i < MAX_HISTORY + 10; i++) r = withHistory(r, { time: i, event: 'e' });
  assert.equal(r.history.length, MAX_HISTORY);
  assert.equal(r.history[0]!.time, 10);
});
