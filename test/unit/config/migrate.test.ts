/** Unit tests of `outbox config migrate` (src/config/migrate.ts), with fixture files. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { detectFormat, migrate } from '../../../src/config/migrate.js';
import { oauthHelper, oauthProvider } from '../../../src/config/migrate-msmtp.js';
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
    assert.deepEqual(
      s.routes!.map((r) => [r.sender, r.relay]),
      [
        ['me@gmail.com', 'gmail'],
        ['jdoe@work.example', 'work'],
      ],
    );
    assert.doesNotMatch(out, /hunter2/);
    assert.match(
      out,
      /# NOTE: .*tls_certcheck off is not supported: certificates are always verified; for a self-signed or private-CA relay set ca_file .*a pin alone does not make an unverifiable certificate acceptable/,
    );
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
    assert.match(
      msmtp,
      /# NOTE: account "a": the fingerprint pin is kept, but in Outbox it is checked in addition to verification, not instead of it: .*set ca_file/,
    );
    const dma = migrate({
      format: 'dma',
      file: '/etc/dma/dma.conf',
      text: `SMARTHOST smtp.example.com\nSECURETRANSFER\nFINGERPRINT ${fp.replace(/:/g, '')}\n`,
    });
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
    assert.match(
      out,
      /# NOTE: .*--insecure is not supported: certificates are always verified; .*a pin alone does not make an unverifiable certificate acceptable/,
    );
    assert.match(out, /QMQP is not supported/);
  });
});

describe('config migrate: msmtp OAuth helpers (passwordeval)', () => {
  const text = read('msmtprc-oauth');
  const out = migrate({ format: 'msmtp', file: '/home/me/.msmtprc', text });
  const s = parseConfigText('out', out);
  const r = s.relays!;

  it('the output is a valid configuration with one relay per account', () => {
    assert.deepEqual(Object.keys(r), ['gmail', 'work', 'outlook', 'corp', 'gmail2']);
    assert.equal(s.defaultRelay, 'gmail');
  });

  it('a known helper on a Google or Microsoft host becomes an [relay.NAME.oauth] table, with NOTEs', () => {
    assert.equal(r.gmail!.authMechanism, 'OAUTHBEARER');
    assert.equal(r.gmail!.oauth!.provider, 'google');
    assert.equal(r.gmail!.oauth!.clientSecretFile, '/etc/outbox/gmail.client-secret');
    assert.equal(r.gmail!.oauthTokenCommand, undefined);
    assert.equal(r.gmail!.url, 'smtp+starttls://me%40gmail.com@smtp.gmail.com');
    assert.match(
      out,
      /# NOTE: account "gmail": OAUTHBEARER \(its passwordeval ran oama\) is now the built-in OAuth client, \[relay\.gmail\.oauth\], provider "google" guessed from smtp\.gmail\.com: fill in client_id and client_secret_file/,
    );
    assert.match(
      out,
      /# NOTE: account "gmail": then get a refresh token .*Google's device flow does not grant it.* run: outbox oauth login gmail --import FILE/,
    );
    assert.equal(r.work!.authMechanism, 'XOAUTH2');
    assert.equal(r.work!.oauth!.provider, 'microsoft');
    assert.equal(r.work!.oauth!.tenant, undefined);
    assert.equal(r.work!.oauth!.clientSecretFile, undefined);
    assert.match(out, /# NOTE: account "work": XOAUTH2 \(its passwordeval ran mutt_oauth2\.py\) is now the built-in OAuth client.*provider "microsoft"/);
    assert.match(out, /# NOTE: account "work": then run: outbox oauth login work \(device flow/);
    assert.equal(r.outlook!.oauth!.provider, 'microsoft');
    assert.equal(r.outlook!.oauth!.tenant, 'consumers');
    assert.match(out, /its passwordeval ran pizauth/);
    // The helper command stays visible as a commented alternative.
    assert.match(out, /^# oauth_token_command = "pizauth show outlook"/m);
    for (const n of ['gmail', 'work', 'outlook']) assert.equal(r[n]!.oauth!.clientId, 'REPLACE-WITH-CLIENT-ID');
  });

  it('where it cannot tell, the passwordeval is kept as oauth_token_command, with a NOTE', () => {
    assert.equal(r.corp!.oauth, undefined);
    assert.equal(r.corp!.oauthTokenCommand, 'oauth2token me@corp.example');
    assert.equal(r.corp!.passwordCommand, undefined);
    assert.match(
      out,
      /# NOTE: account "corp": XOAUTH2 with passwordeval kept as oauth_token_command \(mail\.corp\.example is not a provider Outbox has a preset for\)/,
    );
    assert.equal(r.gmail2!.oauth, undefined);
    assert.equal(r.gmail2!.oauthTokenCommand, 'cat ~/.cache/gmail-access-token');
    assert.match(
      out,
      /# NOTE: account "gmail2": XOAUTH2 with passwordeval kept as oauth_token_command \(its passwordeval is not a token helper Outbox knows\).*outbox oauth login gmail2/,
    );
  });

  it('recognises the helpers behind wrappers and paths, and nothing else', () => {
    assert.equal(oauthHelper('oauth2token me@gmail.com'), 'oauth2token');
    assert.equal(oauthHelper('/usr/bin/python3 /usr/share/neomutt/oauth2/mutt_oauth2.py ~/.tok'), 'mutt_oauth2.py');
    assert.equal(oauthHelper('env OAMA_CONFIG=x oama access me@x'), 'oama');
    assert.equal(oauthHelper('pizauth show gmail'), 'pizauth');
    assert.equal(oauthHelper('~/bin/get-token.sh work'), 'a get-token script');
    assert.equal(oauthHelper('gpg -q -d ~/.pw.gpg'), undefined);
    assert.equal(oauthHelper('cat ~/oama'), undefined);
    assert.deepEqual(oauthProvider('SMTP.Gmail.com'), { provider: 'google' });
    assert.deepEqual(oauthProvider('smtp.office365.com'), { provider: 'microsoft' });
    assert.equal(oauthProvider('smtp.example.com'), undefined);
  });

  it('an OAuth account without passwordeval on an unknown host gets a custom table to fill in', () => {
    const o = migrate({
      format: 'msmtp',
      file: 'rc',
      text: 'account x\nhost mail.example.org\ntls on\nauth xoauth2\nuser me@example.org\npassword ya29.static\n',
    });
    const x = parseConfigText('out', o).relays!.x!;
    assert.equal(x.oauth!.provider, 'custom');
    assert.doesNotMatch(o, /ya29/);
    assert.match(o, /# NOTE: account "x": XOAUTH2 without passwordeval on mail\.example\.org: fill in token_url and client_id/);
  });
});
