/** Unit tests of `outbox config migrate` (src/config/migrate.ts), with fixture files. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { detectFormat, migrate } from '../../../src/config/migrate.js';
import { parseConfigText } from '../../../src/config/file.js';
import { REPO } from '../../helpers/run.js';

const FIX = path.join(REPO, 'test/fixtures/config');
const read = (n: string) => fs.readFileSync(path.join(FIX, n), 'utf8');

describe('config migrate', () => {
  it('msmtprc: accounts, default, sender routes, passwordeval; passwords never copied', () => {
    const text = read('msmtprc');
    assert.equal(detectFormat('/etc/msmtprc', text), 'msmtp');
    const out = migrate({ format: 'msmtp', file: '/etc/msmtprc', text });
    const s = parseConfigText('out', out);
    assert.deepEqual(Object.keys(s.relays!), ['gmail', 'work', 'legacy']);
    assert.equal(s.relays!.gmail!.url, 'smtp+starttls://me%40gmail.com@smtp.gmail.com');
    assert.equal(s.relays!.gmail!.passwordCommand, 'gpg -q -d ~/.msmtp-gmail.gpg');
    assert.equal(s.relays!.work!.url, 'smtps://jdoe@mail.work.example');
    assert.equal(s.relays!.work!.passwordFile, '/etc/outbox/work.password');
    assert.equal(s.relays!.work!.caFile, '/etc/ssl/work-ca.pem');
    assert.equal(s.relays!.legacy!.url, 'smtp://relay.lan');
    assert.equal(s.defaultRelay, 'work');
    assert.deepEqual(s.routes!.map((r) => [r.sender, r.relay]), [['me@gmail.com', 'gmail'], ['jdoe@work.example', 'work']]);
    assert.doesNotMatch(out, /hunter2/);
    assert.match(out, /# NOTE: .*tls_certcheck off is not supported: certificates are always verified; for a self-signed or private-CA relay set ca_file .*a pin alone does not make an unverifiable certificate acceptable/);
    assert.doesNotMatch(out, /pin the certificate with fingerprint/);
    assert.match(out, /# NOTE: .*"logfile" has no Outbox equivalent/);
  });

  it('dma.conf + auth.conf', () => {
    const text = read('dma.conf');
    assert.equal(detectFormat('/etc/dma/dma.conf', text), 'dma');
    const out = migrate({ format: 'dma', file: '/etc/dma/dma.conf', text, authText: read('auth.conf') });
    const s = parseConfigText('out', out);
    assert.equal(s.relays!.smtp!.url, 'smtp+starttls://bob%40example.com@smtp.example.com');
    assert.equal(s.masquerade, 'example.com');
    assert.equal(s.aliasesFile, '/etc/aliases');
    assert.doesNotMatch(out, /t0ps3cret/);
    assert.match(out, /# NOTE: OPPORTUNISTIC_TLS/);
    assert.match(out, /# NOTE: MASQUERADE bob@example\.com: the user part is not translated/);
  });

  it('a fingerprint pin is kept with a note: in Outbox it is checked in addition to verification, never instead', () => {
    const fp = 'AB:'.repeat(31) + 'CD';
    const msmtp = migrate({ format: 'msmtp', file: '/etc/msmtprc', text: `account a\nhost smtp.example.com\ntls_fingerprint ${fp}\naccount default : a\n` });
    assert.equal(parseConfigText('out', msmtp).relays!.a!.fingerprints![0], fp);
    assert.match(msmtp, /# NOTE: account "a": the fingerprint pin is kept, but in Outbox it is checked in addition to verification, not instead of it: .*set ca_file/);
    const dma = migrate({ format: 'dma', file: '/etc/dma/dma.conf', text: `SMARTHOST smtp.example.com\nSECURETRANSFER\nFINGERPRINT ${fp.replace(/:/g, '')}\n` });
    assert.match(dma, /# NOTE: FINGERPRINT: the fingerprint pin is kept, but in Outbox it is checked in addition to verification/);
  });

  it('nullmailer remotes: later remotes become fallbacks', () => {
    const text = read('remotes');
    assert.equal(detectFormat('/etc/nullmailer/remotes', text), 'nullmailer');
    const out = migrate({ format: 'nullmailer', file: '/etc/nullmailer/remotes', text, defaultdomain: 'example.org\n', me: 'box.example.org\n' });
    const s = parseConfigText('out', out);
    assert.deepEqual(Object.keys(s.relays!), ['smtp', 'backup']);
    assert.equal(s.relays!.smtp!.url, 'smtps://alice@smtp.example.org');
    assert.deepEqual(s.relays!.smtp!.fallbacks, ['backup']);
    assert.equal(s.relays!.backup!.url, 'smtp+starttls://backup.example.net:2525');
    assert.equal(s.domain, 'example.org');
    assert.equal(s.hostname, 'box.example.org');
    assert.doesNotMatch(out, /pa55word/);
    assert.match(out, /# NOTE: .*--insecure is not supported: certificates are always verified; .*a pin alone does not make an unverifiable certificate acceptable/);
    assert.match(out, /QMQP is not supported/);
  });
});
