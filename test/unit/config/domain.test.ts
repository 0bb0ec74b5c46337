/** The mail domain's sources and order, names that cannot work, the login address (src/config/domain.ts). */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { chooseDomain, domainReport, domainWarning, fqdnFromHosts, loginAddress, unusableName } from '../../../src/config/domain.js';
import { OutboxError } from '../../../src/sysexits.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-domain-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const mailname = path.join(dir, 'mailname');
const hosts = path.join(dir, 'hosts');
const none = path.join(dir, 'does-not-exist');
fs.writeFileSync(mailname, 'mail.example.net\n');
fs.writeFileSync(hosts, '127.0.0.1 localhost\n127.0.0.1 vm\n# 127.0.1.1 vm.commented.example vm\n127.0.1.1 vm.hosts.example vm # Debian installer\n');

describe('where the domain comes from (first match wins)', () => {
  const at = (over: Partial<Parameters<typeof chooseDomain>[0]>) =>
    chooseDomain({ env: {}, hostname: 'vm', mailnameFile: mailname, hostsFile: hosts, ...over });
  it('1. OUTBOX_DOMAIN wins over the file, and the file over /etc/mailname', () => {
    assert.deepEqual(at({ env: { OUTBOX_DOMAIN: 'env.example' }, fileDomain: 'file.example', file: '/etc/outbox/outbox.conf' }), {
      domain: 'env.example',
      source: 'OUTBOX_DOMAIN',
    });
    assert.deepEqual(at({ fileDomain: 'file.example', file: '/etc/outbox/outbox.conf' }), {
      domain: 'file.example',
      source: 'domain in /etc/outbox/outbox.conf',
    });
  });
  it('2. /etc/mailname (first line); an empty or invalid one is skipped', () => {
    assert.deepEqual(at({}), { domain: 'mail.example.net', source: mailname });
    const bad = path.join(dir, 'bad-mailname');
    fs.writeFileSync(bad, 'not a domain!\n');
    assert.equal(at({ mailnameFile: bad }).domain, 'vm.hosts.example');
  });
  it('3. the fully qualified host name: the host name with a dot, else its /etc/hosts line', () => {
    assert.deepEqual(at({ mailnameFile: none, hostname: 'box.example.org' }), { domain: 'box.example.org', source: 'the host name (fully qualified)' });
    assert.deepEqual(at({ mailnameFile: none }), { domain: 'vm.hosts.example', source: `the host's fully qualified name (${hosts})` });
  });
  it('4. the bare host name when nothing else is known', () => {
    assert.deepEqual(at({ mailnameFile: none, hostsFile: none }), { domain: 'vm', source: 'the bare host name' });
    // A hosts line whose canonical name is localhost or has no dot names no FQDN.
    assert.equal(fqdnFromHosts('127.0.0.1 localhost vm\n127.0.1.1 vm\n', 'vm'), undefined);
    assert.equal(fqdnFromHosts('10.0.0.5 VM.Corp.Example vm\n', 'VM'), 'vm.corp.example');
  });
  it('an invalid OUTBOX_DOMAIN is a configuration error (78)', () => {
    assert.throws(
      () => at({ env: { OUTBOX_DOMAIN: 'no spaces.example' } }),
      (e: unknown) => e instanceof OutboxError && e.exitCode === 78 && /OUTBOX_DOMAIN/.test(e.message),
    );
  });
});

describe('names that cannot work', () => {
  it('no dot, localhost, localdomain', () => {
    assert.match(unusableName('vm')!, /no dot/);
    assert.match(unusableName('localhost')!, /localhost/);
    assert.match(unusableName('vm.localdomain')!, /localdomain/);
    assert.equal(unusableName('example.com'), null);
  });
  it('the WARN line names the source and the fix', () => {
    const w = domainWarning({ domain: 'vm', source: 'the bare host name' })!;
    assert.match(w, /^domain "vm" \(from the bare host name\) has no dot .*root@vm .*fix: set OUTBOX_DOMAIN=example\.com .*\/etc\/mailname/);
    assert.equal(domainWarning({ domain: 'example.com', source: 'OUTBOX_DOMAIN' }), null);
    assert.match(domainWarning({ domain: 'vm', source: 'x' }, 'me@gmail.com')!, /local senders go out as me@gmail\.com/);
    const report = domainReport({ domain: 'vm', domainSource: 'the bare host name' }, [{ name: 'env', url: 'smtps://me%40gmail.com@smtp.gmail.com' }]);
    assert.equal(report[0], 'domain vm (from the bare host name)');
    assert.match(report[1]!, /^ {2}WARN domain "vm".*go out as me@gmail\.com/);
  });
});

describe('the login address', () => {
  it('is the URL user when it is an email address, unless switched off', () => {
    assert.equal(loginAddress({ name: 'g', url: 'smtp+starttls://me%40gmail.com@smtp.gmail.com:587' }), 'me@gmail.com');
    assert.equal(loginAddress({ name: 'g', url: 'smtp+starttls://me%40gmail.com@smtp.gmail.com:587', loginSender: false }), undefined);
    assert.equal(loginAddress({ name: 'p', url: 'smtp+starttls://outboxtest@smtp.example.com:587' }), undefined);
    assert.equal(loginAddress({ name: 'p', url: 'smtp+starttls://user%40nodot@smtp.example.com:587' }), undefined);
    assert.equal(loginAddress({ name: 'n', url: 'smtp://relay.example.com:25' }), undefined);
  });
});
