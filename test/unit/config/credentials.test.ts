/** Unit tests of secret reading (src/config/credentials.ts): permissions, commands, timeouts. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { resolveSecret } from '../../../src/config/credentials.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-cred-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const conf = path.join(dir, 'outbox.conf');
fs.writeFileSync(conf, '[relay.r]\nurl = "smtps://u@h"\npassword_command = "x"\n');
const ctx = { configFile: conf, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SMTP_PW: 'fromenv' }, gids: [0] };

async function rejects(p: Promise<unknown>, re: RegExp): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.equal((e as { exitCode?: number }).exitCode, 78);
    assert.match((e as Error).message, re);
    return (e as Error).message;
  }
  assert.fail('expected a rejection');
}

describe('credentials', () => {
  it('password_file: first line; refused when others can read it, with the fix', async () => {
    const f = path.join(dir, 'pw');
    fs.writeFileSync(f, 'pa55\nignored\n', { mode: 0o600 });
    fs.chmodSync(f, 0o600);
    assert.equal(await resolveSecret({ name: 'r', url: 'x', passwordFile: f }, ctx), 'pa55');
    fs.chmodSync(f, 0o644);
    const m = await rejects(
      resolveSecret({ name: 'r', url: 'x', passwordFile: f }, ctx),
      /relay\.r\.password_file: refusing .*pw: it is readable or writable by others \(mode 0644\); fix with: chmod 600/,
    );
    assert.doesNotMatch(m, /pa55/);
    fs.chmodSync(f, 0o640);
    await rejects(resolveSecret({ name: 'r', url: 'x', passwordFile: f }, { ...ctx, gids: [12345] }), /accessible to its group/);
    await rejects(resolveSecret({ name: 'r', url: 'x', passwordFile: path.join(dir, 'none') }, ctx), /none does not exist/);
  });

  it('password_file judged as the user that delivers mail (root checking for the spool owner)', async () => {
    const f = path.join(dir, 'pw-as');
    fs.writeFileSync(f, 'pa55\n');
    const st = fs.statSync(f);
    const outbox = { uid: st.uid + 12345, gids: [st.gid], group: 'outbox' };
    // Group-readable for the runner's group: fit, whatever the checking process's groups.
    fs.chmodSync(f, 0o640);
    assert.equal(await resolveSecret({ name: 'r', url: 'x', passwordFile: f }, { ...ctx, gids: [424242], as: outbox }), 'pa55');
    // Private to its owner: the runner could not read it, and says how to fix it.
    fs.chmodSync(f, 0o600);
    await rejects(
      resolveSecret({ name: 'r', url: 'x', passwordFile: f }, { ...ctx, as: outbox }),
      new RegExp(`pw-as cannot be read by the user that delivers mail \\(uid ${outbox.uid}, the spool's owner\\); fix with: chgrp outbox .*pw-as && chmod 640`),
    );
    // Group-readable by another group: refused with a fix that keeps the runner able to read it.
    fs.chmodSync(f, 0o640);
    await rejects(
      resolveSecret({ name: 'r', url: 'x', passwordFile: f }, { ...ctx, as: { ...outbox, gids: [st.gid + 1] } }),
      /cannot be read by the user that delivers mail/,
    );
  });

  it('password_command: output, failure, silence, hang (killed after the timeout)', async () => {
    assert.equal(await resolveSecret({ name: 'r', url: 'x', passwordCommand: 'printf "s3\\nx"' }, ctx), 's3');
    const m = await rejects(
      resolveSecret({ name: 'r', url: 'x', passwordCommand: 'echo leaked; exit 3' }, ctx),
      /outbox\.conf:3: relay\.r\.password_command: the command failed with exit status 3/,
    );
    assert.doesNotMatch(m, /leaked/);
    await rejects(resolveSecret({ name: 'r', url: 'x', passwordCommand: 'true' }, ctx), /printed nothing/);
    const t0 = Date.now();
    await rejects(
      resolveSecret({ name: 'r', url: 'x', passwordCommand: 'sleep 30; echo late', passwordCommandTimeoutMs: 300 }, ctx),
      /did not finish within 0\.3 s and was killed/,
    );
    assert.ok(Date.now() - t0 < 5000);
  });

  it('password_env and inline', async () => {
    assert.equal(await resolveSecret({ name: 'r', url: 'x', passwordEnv: 'SMTP_PW' }, ctx), 'fromenv');
    await rejects(resolveSecret({ name: 'r', url: 'x', passwordEnv: 'NOPE' }, ctx), /NOPE is not set/);
    assert.equal(await resolveSecret({ name: 'r', url: 'x', password: 'inline' }, ctx), 'inline');
    assert.equal(await resolveSecret({ name: 'r', url: 'x' }, ctx), undefined);
  });
});
