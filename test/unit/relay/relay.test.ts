/** Relay URLs, the OUTBOX_RELAY* environment, password file checks. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { parseRelayUrl, redactUrl } from '../../../src/relay/relay.js';
import { relayFromEnv } from '../../../src/relay/env.js';
import { resolveSecret } from '../../../src/config/credentials.js';
import { OutboxError } from '../../../src/sysexits.js';

describe('relay URLs', () => {
  it('parses the three schemes with default ports', () => {
    assert.deepEqual(parseRelayUrl('smtp+starttls://me%40x.org@mail.example.com'), {
      scheme: 'starttls',
      host: 'mail.example.com',
      port: 587,
      user: 'me@x.org',
    });
    assert.deepEqual(parseRelayUrl('smtps://u@mail.example.com'), { scheme: 'smtps', host: 'mail.example.com', port: 465, user: 'u' });
    assert.deepEqual(parseRelayUrl('smtp://10.0.0.1:2525'), { scheme: 'smtp', host: '10.0.0.1', port: 2525 });
    assert.deepEqual(parseRelayUrl('mail.example.com:2587'), { scheme: 'starttls', host: 'mail.example.com', port: 2587 });
    assert.deepEqual(parseRelayUrl('smtps://[::1]:4650'), { scheme: 'smtps', host: '::1', port: 4650 });
  });
  it('refuses AUTH over plain smtp://, passwords in URLs, unknown schemes, paths', () => {
    assert.throws(() => parseRelayUrl('smtp://user@host:25'), /plaintext/);
    assert.throws(
      () => parseRelayUrl('smtps://user:hunter2@host'),
      (e: Error) => e instanceof OutboxError && e.exitCode === 78 && !e.message.includes('hunter2'),
    );
    assert.throws(() => parseRelayUrl('http://host'), /unknown scheme/);
    assert.throws(() => parseRelayUrl('smtps://host/path'), /path/);
    assert.equal(redactUrl('smtps://u:hunter2@h'), 'smtps://u:***@h');
  });
  it('reads OUTBOX_RELAY, OUTBOX_RELAY_PASSWORD_FILE and OUTBOX_RELAY_CA', () => {
    assert.equal(relayFromEnv({}), null);
    assert.deepEqual(relayFromEnv({ OUTBOX_RELAY: 'smtps://u@h', OUTBOX_RELAY_PASSWORD_FILE: '/p', OUTBOX_RELAY_CA: '/ca' }), {
      name: 'env',
      url: 'smtps://u@h',
      passwordFile: '/p',
      caFile: '/ca',
    });
  });
  it('reads OUTBOX_RELAY_FORCE_SENDER and OUTBOX_RELAY_LOGIN_SENDER, refusing bad values', () => {
    assert.deepEqual(relayFromEnv({ OUTBOX_RELAY: 'smtps://u@h', OUTBOX_RELAY_FORCE_SENDER: 'me@x.example', OUTBOX_RELAY_LOGIN_SENDER: 'no' }), {
      name: 'env',
      url: 'smtps://u@h',
      forceSender: 'me@x.example',
      loginSender: false,
    });
    assert.equal(relayFromEnv({ OUTBOX_RELAY: 'smtps://u@h', OUTBOX_RELAY_LOGIN_SENDER: 'Yes' })!.loginSender, true);
    const bad = (env: NodeJS.ProcessEnv, re: RegExp) =>
      assert.throws(
        () => relayFromEnv(env),
        (e: unknown) => e instanceof OutboxError && e.exitCode === 78 && re.test(e.message),
      );
    bad({ OUTBOX_RELAY: 'smtps://u@h', OUTBOX_RELAY_LOGIN_SENDER: 'maybe' }, /OUTBOX_RELAY_LOGIN_SENDER: expected yes or no/);
    bad({ OUTBOX_RELAY: 'smtps://u@h', OUTBOX_RELAY_FORCE_SENDER: 'root' }, /OUTBOX_RELAY_FORCE_SENDER: must be an address/);
  });
  it('the OUTBOX_RELAY relay reads its password file under the same rules as every relay', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-pw-'));
    try {
      const f = path.join(dir, 'pw');
      fs.writeFileSync(f, 'se cret\nignored\n', { mode: 0o600 });
      const relay = relayFromEnv({ OUTBOX_RELAY: 'smtps://u@h', OUTBOX_RELAY_PASSWORD_FILE: f })!;
      assert.equal(await resolveSecret(relay, { configFile: null }), 'se cret');
      fs.chmodSync(f, 0o644);
      await assert.rejects(resolveSecret(relay, { configFile: null }), /relay env: password_file: refusing .*chmod 600/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
