/**
 * End-to-end: README "Containers", the recipe for adding Outbox to an existing image, run as
 * written. The commands and the variables are read from the README's code blocks of that
 * section (so the recipe cannot drift from what is tested), then run as a Dockerfile would run
 * them: as root at "build time", then as the application's uid (one with no passwd entry) with
 * only the recipe's variables, no daemon and then a daemon beside it. No container engine: the
 * recipe runs inside a private mount namespace (unshare) with overlays on /usr, /opt and /var
 * and its own /tmp and /run, so nothing reaches the machine (install.test.ts does the same for
 * the .deb). Both the slim files (scripts/package/build-tarball) and the single executable. Needs root.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BIN_DIR, REPO, run } from '../helpers/run.js';
import { requireRoot } from '../helpers/users.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';

const APP_UID = '4242'; // no passwd entry on a Debian machine (system uids < 1000, users from 1000 up)

/** The ```sh blocks of README's "### Containers", in order. */
function recipeBlocks(): string[] {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const start = readme.indexOf('\n### Containers\n');
  assert.ok(start >= 0, 'README has a "### Containers" section');
  const next = /\n#{2,3} /.exec(readme.slice(start + 5));
  const section = readme.slice(start, next ? start + 5 + next.index : undefined);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

let scratch = '';
let tarball = '';
let relay: TestRelay;

before(async () => {
  requireRoot();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-container-'));
  fs.chmodSync(scratch, 0o755);
  const b = await run(path.join(REPO, 'scripts/package/build-tarball'), [scratch], { timeoutMs: 120_000 });
  assert.equal(b.code, 0, b.stderr);
  tarball = b.stdout.trim();
  relay = await startRelay({ users: { app: 'container-secret' } });
});

after(async () => {
  await relay?.close();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

async function runRecipe(variant: 'slim' | 'executable'): Promise<string> {
  const blocks = recipeBlocks();
  assert.equal(blocks.length, 4, 'slim install, executable install, spool, environment');
  const [slimInstall, exeInstall, spool, envBlock] = blocks as [string, string, string, string];
  const env: Record<string, string> = {};
  for (const line of envBlock.split('\n').filter((l) => l && !l.startsWith('#'))) {
    const m = /^(OUTBOX_[A-Z_]+)=(.*)$/.exec(line);
    assert.ok(m, `an environment line: ${line}`);
    env[m[1]!] = m[2]!;
  }
  assert.deepEqual(Object.keys(env).sort(), ['OUTBOX_DOMAIN', 'OUTBOX_RELAY', 'OUTBOX_RELAY_PASSWORD_FILE', 'OUTBOX_SPOOL']);
  // Our relay instead of smtp.example.com, and its test CA (a real image trusts a real relay).
  env.OUTBOX_RELAY = relay.url('app');
  const dir = fs.mkdtempSync(path.join(scratch, `${variant}-`));
  fs.chmodSync(dir, 0o755);
  fs.copyFileSync(relay.caFile, path.join(dir, 'ca.pem'));
  fs.chmodSync(path.join(dir, 'ca.pem'), 0o644);
  fs.writeFileSync(path.join(dir, 'build.sh'), `${variant === 'slim' ? slimInstall : exeInstall}\n${spool}`);
  const appEnv = ['PATH=/usr/local/bin:/usr/bin:/bin', `OUTBOX_RELAY_CA=/var/tmp/ct/ca.pem`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
  const asApp = `setpriv --reuid ${APP_UID} --regid ${APP_UID} --clear-groups env -i ${appEnv.map((a) => `'${a}'`).join(' ')}`;
  const script = `set -eu
T=$1
for d in usr opt var; do
  mkdir -p "$T/$d.u" "$T/$d.w"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$T/$d.u,workdir=$T/$d.w" "/$d"
done
mkdir -p /var/tmp/ct
cp "$T/build.sh" "$T/ca.pem" /var/tmp/ct/
cp "${variant === 'slim' ? tarball : path.join(BIN_DIR, 'outbox')}" /var/tmp/ct/
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
cp /var/tmp/ct/${variant === 'slim' ? path.basename(tarball) : 'outbox'} /tmp/
echo "== build"
APP_UID=${APP_UID} sh -eu /var/tmp/ct/build.sh
echo "sendmail -> $(readlink /usr/sbin/sendmail)"
mkdir -p /run/secrets
printf 'container-secret\\n' > /run/secrets/relay_password
chown ${APP_UID} /run/secrets/relay_password
chmod 0600 /run/secrets/relay_password
# Waits (bounded: 120 s) until the spool is empty and no process of the app's uid is left (a
# background delivery may stay a while after its work).
settle() {
  i=0
  while [ $i -lt 480 ]; do
    if ${asApp} /usr/sbin/sendmail -bp 2>&1 | grep -q 'Mail queue is empty' && ! pgrep -u ${APP_UID} >/dev/null; then echo "settled"; return 0; fi
    i=$((i + 1)); sleep 0.25
  done
  ${asApp} /usr/sbin/sendmail -bp 2>&1; echo "not settled"
}
echo "== no daemon"
printf 'To: nodaemon@example.com\\nSubject: no daemon (${variant})\\n\\nhello\\n' | ${asApp} /usr/sbin/sendmail -t -i 2>&1
echo "submitted rc=$?"
settle
echo "== daemon beside"
${asApp} /usr/sbin/sendmail -bd -q5m 2>/var/tmp/ct/daemon.err &
dpid=$!
i=0; while [ $i -lt 240 ] && [ ! -s /var/spool/outbox-app/run/daemon.pid ]; do i=$((i + 1)); sleep 0.25; done
echo "daemon pid file: $(cat /var/spool/outbox-app/run/daemon.pid 2>/dev/null || echo none)"
printf 'To: daemon@example.com\\nSubject: daemon beside (${variant})\\n\\nhello\\n' | ${asApp} /usr/sbin/sendmail -t -i 2>&1
echo "submitted rc=$?"
i=0; while [ $i -lt 240 ] && ! ${asApp} /usr/sbin/sendmail -bp 2>&1 | grep -q 'Mail queue is empty'; do i=$((i + 1)); sleep 0.25; done
kill -TERM $dpid
rc=0; wait $dpid || rc=$?
echo "daemon rc=$rc"
cat /var/tmp/ct/daemon.err >&2
settle
`;
  fs.writeFileSync(path.join(dir, 'run.sh'), script);
  const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', path.join(dir, 'run.sh'), dir], { timeoutMs: 400_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return r.stdout;
}

for (const variant of ['slim', 'executable'] as const) {
  test(`README "Containers" recipe, ${variant}: env vars only, a uid with no passwd entry, no daemon and a daemon beside`, async () => {
    const before = relay.received.length;
    const out = await runRecipe(variant);
    assert.match(out, variant === 'slim' ? /^sendmail -> \/opt\/outbox\/build\/slim\/outbox$/m : /^sendmail -> \/usr\/local\/bin\/outbox$/m);
    assert.equal((out.match(/^submitted rc=0$/gm) ?? []).length, 2, out);
    assert.equal((out.match(/^settled$/gm) ?? []).length, 2, out);
    assert.match(out, /^daemon pid file: \d+$/m, out);
    assert.match(out, /^daemon rc=0$/m, out);
    const got = relay.received.slice(before);
    assert.deepEqual(got.map((m) => m.rcptTo.join(',')).sort(), ['daemon@example.com', 'nodaemon@example.com'], out);
    for (const m of got) {
      assert.match(m.data.toString(), new RegExp(`Subject: (no daemon|daemon beside) \\(${variant}\\)`));
      assert.match(m.mailFrom ?? '', /@example\.com$/, 'the sender is in OUTBOX_DOMAIN');
    }
    // Nothing of it reached the machine.
    assert.ok(!fs.existsSync('/var/spool/outbox-app'));
    assert.ok(!fs.existsSync('/opt/outbox'));
  });
}
