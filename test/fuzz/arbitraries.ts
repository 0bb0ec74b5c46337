/**
 * test/fuzz/arbitraries.ts — fast-check generators of messages for the fuzz suites: structured
 * messages (header fields with folding, Bcc, dots, mbox From lines, CRLF/LF mixes, bare CR,
 * 8-bit bytes) and raw bytes biased towards the interesting ones (LF, CR, '.', ':', NUL).
 */
import fc from 'fast-check';

export const byteNoLf = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 32, max: 126 }) },
  { weight: 1, arbitrary: fc.integer({ min: 128, max: 255 }) },
  { weight: 1, arbitrary: fc.constantFrom(9, 13, 46, 58, 32) },
);
export const textNoLf = (max: number) => fc.array(byteNoLf, { maxLength: max }).map((a) => Buffer.from(a).toString('latin1'));

export const fieldName = fc.oneof(
  fc.constantFrom('Subject', 'To', 'Cc', 'Bcc', 'Resent-Bcc', 'From', 'Date', 'Message-ID', 'X-Mailer', 'Received', 'Content-Type', 'BCC', 'message-id'),
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/),
);
export const field = fc
  .tuple(fieldName, fc.constantFrom(': ', ':', ' : ', ':\t'), textNoLf(80), fc.array(textNoLf(40), { maxLength: 2 }))
  .map(([name, sep, value, conts]) => name + sep + value + '\n' + conts.map((c) => '\t' + c + '\n').join(''));

export const bodyLine = fc.oneof(
  { weight: 8, arbitrary: textNoLf(120) },
  { weight: 1, arbitrary: fc.constantFrom('.', '..', '...', '.x', '..x', 'From me', '', '\r', '.\r') },
);

/** A message with a known structure, written with LF or CRLF line ends (mixed). */
export const structured = fc
  .record({
    mbox: fc.boolean(),
    fields: fc.array(field, { maxLength: 12 }),
    body: fc.array(bodyLine, { maxLength: 30 }),
    crlf: fc.array(fc.boolean(), { minLength: 50, maxLength: 50 }),
    finalNewline: fc.boolean(),
    terminator: fc.constantFrom('', '.\n', '.\r\n', '.'),
  })
  .map((m) => {
    let text = m.mbox ? 'From someone Mon Jan  1 00:00:00 2024\n' : '';
    text += m.fields.join('');
    text += '\n' + m.body.join('\n') + (m.finalNewline ? '\n' : '');
    if (m.finalNewline) text += m.terminator;
    let i = 0;
    text = text.replace(/\n/g, () => (m.crlf[i++ % 50] ? '\r\n' : '\n'));
    return Buffer.from(text, 'latin1');
  });

export const rawBytes = fc
  .array(
    fc.oneof(
      { weight: 12, arbitrary: fc.integer({ min: 0, max: 255 }).filter((b) => b !== 0) },
      { weight: 4, arbitrary: fc.constantFrom(10, 13, 46, 58, 32, 9) },
      { weight: 1, arbitrary: fc.constant(0) },
    ),
    { maxLength: 3000 },
  )
  .map((a) => Buffer.from(a));
