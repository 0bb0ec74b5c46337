import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixupHeaders, parseHeaderSection, recipientFieldValues, rfc5322Date, fieldValue } from '../../../src/message/headers.js';

function fields(text: string) {
  const p = parseHeaderSection(text);
  assert.equal(p.kind, 'headers');
  return (p as { fields: ReturnType<typeof Array.prototype.slice> }).fields as import('../../../src/message/headers.js').HeaderField[];
}

test('fields with continuation lines keep their raw bytes', () => {
  const f = fields('Subject: a\n b\nTo: x@y\n');
  assert.equal(f.length, 2);
  assert.equal(f[0]!.raw, 'Subject: a\n b\n');
  assert.equal(fieldValue(f[0]!), 'a b');
});

test('no header section when the first line is not a field', () => {
  assert.deepEqual(parseHeaderSection('hello world\n'), { kind: 'no-headers' });
  assert.equal(parseHeaderSection(' starts with space\n').kind, 'error');
});

test('a non-field line inside the header section is an error naming the line', () => {
  const p = parseHeaderSection('Subject: x\nthis is not a header\n');
  assert.equal(p.kind, 'error');
  assert.match((p as { error: string }).error, /line 2 .*not a header field/);
});

test('a bare CR in the header section is refused (it would be a line break on the wire)', () => {
  const p = parseHeaderSection('Subject: hi\rBcc: victim@example.com\nTo: a@x\n');
  assert.equal(p.kind, 'error');
  assert.match((p as { error: string }).error, /line 1 .*bare CR/);
});

test('fix-ups: Received first, Bcc and Resent-Bcc removed with continuations, missing fields appended', () => {
  const out = fixupHeaders({
    fields: fields('To: a@x\nBcc: s@x,\n t@x\nResent-Bcc: u@x\nSubject: hi\n'),
    received: 'by host (Outbox)',
    from: 'me@x',
    messageId: '<id@host>',
    date: new Date(Date.UTC(2026, 10, 22, 8, 0, 0)),
  });
  const lines = out.split('\n');
  assert.equal(lines[0], 'Received: by host (Outbox)');
  assert.ok(!/Bcc/i.test(out));
  assert.ok(!out.includes('t@x'));
  assert.match(out, /^To: a@x\nSubject: hi\nFrom: me@x\nDate: .*\nMessage-ID: <id@host>\n$/m);
});

test('fix-ups keep existing From, Date, Message-ID untouched', () => {
  const text = 'From: Someone <s@x>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <m@x>\n';
  const out = fixupHeaders({ fields: fields(text), from: 'other@x', messageId: '<n@x>', date: new Date() });
  assert.equal(out, text);
});

test('-t reads To/Cc/Bcc, or the Resent- fields when present', () => {
  assert.deepEqual(recipientFieldValues(fields('To: a@x\nCc: b@x\nBcc: c@x\nSubject: s\n')), ['a@x', 'b@x', 'c@x']);
  assert.deepEqual(recipientFieldValues(fields('To: a@x\nResent-To: r@x\n')), ['r@x']);
});

test('rfc5322Date has the RFC 5322 shape', () => {
  assert.match(rfc5322Date(new Date()), /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$/);
});
