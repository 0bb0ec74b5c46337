/** Unit tests of smtpin/protocol.ts: command and parameter parsing, replies, error mapping. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkHeloName,
  commitErrorReply,
  decodeXtext,
  ehloReply,
  formatReply,
  isLoopback,
  parseCommand,
  parseMailFrom,
  parseRcptTo,
  SizeLimitError,
  splitPath,
} from '../../../src/smtpin/protocol.js';
import { EX_CANTCREAT, EX_DATAERR, OutboxError } from '../../../src/sysexits.js';

const ctx = { domain: 'host.example', esmtp: true, maxSize: 1000, authOffered: false };

describe('protocol', () => {
  it('splits commands', () => {
    assert.deepEqual(parseCommand('mail FROM:<a@b>'), { verb: 'MAIL', arg: 'FROM:<a@b>' });
    assert.deepEqual(parseCommand('QUIT'), { verb: 'QUIT', arg: '' });
    assert.equal(parseCommand('').verb, '');
    assert.equal(parseCommand('12 x').verb, '');
  });

  it('splits paths, quoted local parts included', () => {
    assert.deepEqual(splitPath('FROM:<a@b> SIZE=1', 'FROM'), { path: 'a@b', params: 'SIZE=1' });
    assert.deepEqual(splitPath('from: <"x >y"@b>', 'FROM'), { path: '"x >y"@b', params: '' });
    assert.deepEqual(splitPath('TO:a@b', 'TO'), { path: 'a@b', params: '' });
    assert.equal(splitPath('TO:<a@b', 'TO'), null);
    assert.equal(splitPath('TO:<a@b>x', 'TO'), null);
    assert.equal(splitPath('FROM <a@b>', 'FROM'), null);
  });

  it('parses MAIL FROM parameters', () => {
    assert.deepEqual(parseMailFrom('FROM:<a@b.example> SIZE=10 BODY=8bitmime SMTPUTF8 RET=hdrs ENVID=x+2By', ctx), {
      sender: 'a@b.example',
      size: 10,
      body: '8BITMIME',
      smtputf8: true,
      ret: 'HDRS',
      envid: 'x+y',
    });
    assert.deepEqual(parseMailFrom('FROM:<>', ctx), { sender: '', smtputf8: false });
    assert.equal((parseMailFrom('FROM:<user>', ctx) as { sender: string }).sender, 'user@host.example');
    const code = (arg: string, c = ctx) => (parseMailFrom(arg, c) as { code?: number }).code;
    assert.equal(code('FROM:<a@b> SIZE=1001'), 552);
    assert.equal(code('FROM:<a@b> BODY=BINARYMIME'), 555);
    assert.equal(code('FROM:<a@b> FOO=1'), 555);
    assert.equal(code('FROM:<a@b> SIZE=1 SIZE=2'), 501);
    assert.equal(code('FROM:<a@b> SIZE=x'), 501);
    assert.equal(code('FROM:<a@@b>'), 501);
    assert.equal(code('FROM:<a@b> SIZE=1', { ...ctx, esmtp: false }), 555);
    assert.equal(code('FROM:<ü@b>'), 553);
    assert.equal(code('FROM:<a@b> AUTH=<>'), 555);
    assert.equal(code('FROM:<a@b> AUTH=<>', { ...ctx, authOffered: true }), undefined);
    assert.equal(code('TO:<a@b>'), 501);
  });

  it('parses RCPT TO parameters', () => {
    const r = { ...ctx, smtputf8: false };
    assert.deepEqual(parseRcptTo('TO:<c@d> NOTIFY=success,FAILURE ORCPT=rfc822;c+40d', r), {
      address: 'c@d',
      given: 'c@d',
      notify: ['SUCCESS', 'FAILURE'],
      orcpt: 'rfc822;c@d',
    });
    assert.deepEqual(parseRcptTo('TO:<root>', r), { address: 'root@host.example', given: 'root' });
    const code = (arg: string, c = r) => (parseRcptTo(arg, c) as { code?: number }).code;
    assert.equal(code('TO:<>'), 501);
    assert.equal(code('TO:<c@d> NOTIFY=NEVER,SUCCESS'), 501);
    assert.equal(code('TO:<c@d> ORCPT=x'), 501);
    assert.equal(code('TO:<a b@c>'), 501);
    assert.equal(code('TO:<-x@c>'), 501);
    assert.equal(code('TO:<ü@b>'), 553);
    assert.equal(code('TO:<ü@b>', { ...r, smtputf8: true }), undefined);
  });

  it('decodes xtext', () => {
    assert.equal(decodeXtext('a+2Bb+3D'), 'a+b=');
    assert.equal(decodeXtext('a+2'), null);
    assert.equal(decodeXtext('a=b'), null);
  });

  it('checks HELO names', () => {
    assert.equal(checkHeloName(' [127.0.0.1] '), '[127.0.0.1]');
    assert.equal(checkHeloName(''), null);
    assert.equal(checkHeloName('a b'), null);
  });

  it('formats replies and the EHLO list', () => {
    assert.equal(formatReply({ code: 250, enhanced: '2.0.0', lines: ['Ok'] }), '250 2.0.0 Ok\r\n');
    const e = formatReply(ehloReply({ hostname: 'h', maxSize: 5, starttls: true, auth: ['PLAIN', 'LOGIN'] }));
    assert.equal(
      e,
      '250-h\r\n250-PIPELINING\r\n250-SIZE 5\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n',
    );
  });

  it('maps commit errors to replies', () => {
    assert.equal(formatReply(commitErrorReply(new SizeLimitError(5))), '552 5.3.4 Message size exceeds fixed limit\r\n');
    assert.match(
      formatReply(commitErrorReply(new OutboxError(EX_DATAERR, 'the message contains a NUL byte'))),
      /^554 5\.6\.0 Error: the message contains a NUL byte/,
    );
    assert.match(formatReply(commitErrorReply(new OutboxError(EX_CANTCREAT, '/x: denied'))), /^451 4\.3\.0 /);
    assert.match(formatReply(commitErrorReply(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' }))), /^451 4\.3\.0 /);
    assert.match(formatReply(commitErrorReply(new Error('weird'))), /^451 4\.3\.0 /);
  });

  it('knows loopback addresses', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(a), true, a);
    for (const a of ['10.0.0.1', '169.254.1.1', '::ffff:10.0.0.1', 'fd00::1', undefined]) assert.equal(isLoopback(a), false, String(a));
  });
});
