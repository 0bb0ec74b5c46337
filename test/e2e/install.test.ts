/**
 * End-to-end: scripts/package/install.sh (twice) and scripts/package/uninstall.sh on this very machine, and the
 * Debian package from scripts/package/build-deb; both for the single executable and for the slim variant
 * (install.sh --slim, build-deb --slim: docs/installation.md "Slim variant"). Needs root (CI runs as root).
 *
 * The machine is restored whatever happens: before anything, the state of /usr/sbin/sendmail,
 * /usr/bin/mailq, /usr/bin/newaliases, the dpkg diversions, the user `outbox`, /etc/outbox and
 * the spool is recorded (and the three files copied); after() runs uninstall.sh --purge and, if
 * the state still differs, puts the copies back. The .deb is installed with apt-get and dpkg -i
 * inside a private mount namespace whose /usr, /etc and /var are overlays on scratch
 * directories (unshare + overlayfs): installing a package that Conflicts with the machine's
 * MTA would otherwise remove Postfix from the CI machine, which the other tests need.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO, run } from '../helpers/run.js';
import { requireRoot } from '../helpers/users.js';

const INSTALL = path.join(REPO, 'scripts/package/install.sh');
const UNINSTALL = path.join(REPO, 'scripts/package/uninstall.sh');
const BUILD_DEB = path.join(REPO, 'scripts/package/build-deb');
const LINKS = ['/usr/sbin/sendmail', '/usr/bin/mailq', '/usr/bin/newaliases'];
const MAN_PAGES = ['man1/mailq.1', 'man5/outbox.conf.5', 'man8/outbox.8', 'man8/sendmail.8', 'man8/newaliases.8'].map((p) => `/usr/local/share/man/${p}`);
const OURS = [
  '/usr/local/sbin/outbox',
  '/usr/local/lib/outbox',
  '/usr/local/bin/outbox',
  '/etc/outbox',
  '/var/spool/outbox',
  '/var/lib/outbox',
  '/etc/systemd/system/outbox.service',
  '/etc/systemd/system/outbox-queue.service',
  '/etc/systemd/system/outbox-queue.timer',
  ...MAN_PAGES,
];

function describe(p: string): string {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return `${p}: absent`;
  }
  if (st.isSymbolicLink()) return `${p}: -> ${fs.readlinkSync(p)}`;
  if (st.isDirectory()) return `${p}: dir ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`;
  const sum = createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16);
  return `${p}: file ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)} ${st.size} ${sum}`;
}

const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });

/** An ordinary user's PATH on Debian (/etc/login.defs ENV_PATH): neither /usr/sbin nor /usr/local/sbin. */
const USER_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games';

/** Everything install.sh may touch, as text (compared before/after). */
function machineState(): string {
  const lines = [...LINKS, '/usr/lib/sendmail', ...LINKS.map((l) => `${l}.pre-outbox`), ...OURS].map(describe);
  lines.push(...sh('dpkg-divert', ['--list']).stdout.split('\n').filter(Boolean).sort());
  lines.push(`user outbox: ${sh('getent', ['passwd', 'outbox']).stdout.trim() || 'absent'}`);
  lines.push(`group outbox: ${sh('getent', ['group', 'outbox']).stdout.trim() || 'absent'}`);
  return lines.join('\n');
}

let initial = '';
let saved = '';
let packageOwner: string | null = null;

before(() => {
  requireRoot();
  initial = machineState();
  assert.ok(!fs.existsSync('/usr/local/sbin/outbox'), 'Outbox is already installed on this machine; uninstall it before running this test');
  saved = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-install-saved-'));
  for (const l of LINKS) if (fs.existsSync(l) || fs.existsSync(path.dirname(l))) spawnSync('cp', ['-a', l, path.join(saved, path.basename(l))]);
  const r = sh('dpkg', ['-S', '/usr/sbin/sendmail']);
  packageOwner = r.status === 0 ? r.stdout.split(':')[0]!.trim() : null;
});

after(() => {
  if (machineState() !== initial) spawnSync(UNINSTALL, ['--purge'], { stdio: 'ignore' });
  if (machineState() !== initial) {
    // Last resort: put the saved files back and drop any diversion of ours.
    for (const l of LINKS) {
      spawnSync('dpkg-divert', ['--quiet', '--local', '--rename', '--remove', l]);
      const copy = path.join(saved, path.basename(l));
      if (fs.existsSync(copy) || fs.lstatSync(copy, { throwIfNoEntry: false })) {
        fs.rmSync(l, { force: true });
        spawnSync('cp', ['-a', copy, l]);
      }
    }
  }
  fs.rmSync(saved, { recursive: true, force: true });
  assert.equal(machineState(), initial, 'the machine was not restored');
});

test('install.sh refuses to replace a package-managed MTA without --force, and changes nothing', async (t) => {
  const r = await run(INSTALL, []);
  if (packageOwner) {
    assert.equal(r.code, 73, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`/usr/sbin/sendmail belongs to the package '${packageOwner}'`));
    assert.equal(machineState(), initial);
  } else {
    // No MTA package on this machine: nothing to refuse; the install goes through.
    t.diagnostic('no package owns /usr/sbin/sendmail here');
    assert.equal(r.code, 0, r.stderr);
  }
});

test('install.sh --force installs the binary, links, user, spool, config and units', async () => {
  const r = await run(INSTALL, ['--force'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const l of LINKS) assert.equal(fs.readlinkSync(l), '/usr/local/sbin/outbox');
  if (packageOwner) {
    assert.match(sh('dpkg-divert', ['--list', '/usr/sbin/sendmail']).stdout, /local diversion of \/usr\/sbin\/sendmail to \/usr\/sbin\/sendmail\.pre-outbox/);
    assert.ok(fs.existsSync('/usr/sbin/sendmail.pre-outbox'));
  }
  assert.equal(fs.statSync('/usr/local/sbin/outbox').mode & 0o7777, 0o755);
  const user = sh('getent', ['passwd', 'outbox']).stdout.trim().split(':');
  assert.equal(user[5], '/var/spool/outbox');
  assert.equal(user[6], '/usr/sbin/nologin');
  const uid = Number(user[2]);
  const modes: Record<string, number> = { '': 0o711, tmp: 0o700, msg: 0o700, ctl: 0o700, lock: 0o700, run: 0o711, incoming: 0o1733 };
  for (const [d, mode] of Object.entries(modes)) {
    const st = fs.statSync(path.join('/var/spool/outbox', d));
    assert.equal(st.uid, uid, `owner of spool/${d}`);
    assert.equal(st.mode & 0o7777, mode, `mode of spool/${d}`);
  }
  const conf = fs.statSync('/etc/outbox/outbox.conf');
  assert.equal(conf.mode & 0o777, 0o644);
  assert.equal(conf.uid, 0);
  assert.doesNotMatch(
    fs.readFileSync('/etc/outbox/outbox.conf', 'utf8'),
    /copy it to \/etc\/outbox\/outbox\.conf/,
    'the file does not tell to copy it onto itself',
  );
  // Ordinary users find `outbox` and `mailq` on their PATH.
  assert.equal(fs.readlinkSync('/usr/local/bin/outbox'), '/usr/local/sbin/outbox');
  const w = await run(
    'setpriv',
    ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', '/bin/sh', '-c', 'command -v outbox; command -v mailq; outbox queue --help | head -n1'],
    { env: { PATH: USER_PATH, HOME: '/' } },
  );
  assert.equal(
    w.stdout,
    '/usr/local/bin/outbox\n/usr/bin/mailq\nusage: outbox queue hold|release|requeue|delete [-C FILE] (ID... | --all | FILTER...)\n',
    w.stderr,
  );
  const units = ['outbox.service', 'outbox-queue.service', 'outbox-queue.timer'].map((u) => `/etc/systemd/system/${u}`);
  const service = fs.readFileSync(units[0]!, 'utf8');
  for (const line of [
    'User=outbox',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ReadWritePaths=/var/spool/outbox',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    'CapabilityBoundingSet=\n',
    'ExecStart=/usr/local/sbin/outbox -bd',
  ]) {
    assert.ok(service.includes(line), `outbox.service lacks ${line.trim()}`);
  }
  assert.match(fs.readFileSync(units[1]!, 'utf8'), /ExecStart=\/usr\/local\/sbin\/outbox -q\n/);
  assert.match(fs.readFileSync(units[2]!, 'utf8'), /OnUnitActiveSec=5min/);
  for (const page of MAN_PAGES) {
    assert.equal(fs.statSync(page).mode & 0o777, 0o644, page);
    const m = sh('man', ['-l', page]);
    assert.equal(m.status, 0, `man -l ${page}: ${m.stderr}`);
  }
  // Found by name on the default manual path (only Outbox has outbox.conf(5)).
  assert.equal(fs.realpathSync(sh('man', ['-w', '5', 'outbox.conf']).stdout.trim()), '/usr/local/share/man/man5/outbox.conf.5');
  const v = sh('systemd-analyze', ['verify', ...units]);
  assert.equal(v.status, 0, `systemd-analyze verify: ${v.stdout}${v.stderr}`);
  assert.equal(v.stderr.trim(), '', 'systemd-analyze verify warnings');

  // It works as the system's sendmail: an unprivileged user submits, the runner picks up.
  const s = await run('setpriv', ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', '/usr/sbin/sendmail', '-i', 'someone@example.com'], {
    input: 'Subject: installed\n\nhello\n',
    env: { HOME: '/' },
  });
  assert.equal(s.code, 0, s.stderr);
  assert.equal(fs.readdirSync('/var/spool/outbox/incoming').length, 2);
  const p = await run('/usr/local/sbin/outbox', ['pickup', '-v']);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stderr, /1 queued/);
  const q = await run('/usr/bin/mailq', []);
  assert.match(q.stdout, /someone@example\.com/);
  assert.match(q.stdout, /-- 1 Kbytes in 1 Request\./); // rounded up, as Postfix does
});

test('a second install.sh changes nothing', async () => {
  const before = machineState();
  const r = await run(INSTALL, ['--force'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /nothing to change \(0 changes\)/);
  assert.equal(machineState(), before);
});

test("installed: a user's private spool from before is named once and moved by outbox migrate-spool (on the user's PATH)", async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-home-'));
  fs.chmodSync(home, 0o700);
  const nobody = sh('id', ['-u', 'nobody']).stdout.trim();
  fs.chownSync(home, Number(nobody), Number(sh('id', ['-g', 'nobody']).stdout.trim()));
  const asNobody = (cmd: string, args: string[], extra: Record<string, string> = {}, input = '') =>
    run('setpriv', ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', cmd, ...args], { input, env: { PATH: USER_PATH, HOME: home, ...extra } });
  try {
    // The private spool as sendmail made it before the installation (named here explicitly).
    const priv = path.join(home, '.local/state/outbox');
    const a = await asNobody(
      '/usr/sbin/sendmail',
      ['-odq', '-f', 'nobody@example.com', 'left@example.com'],
      { OUTBOX_SPOOL: priv },
      'Subject: left behind\n\nhello\n',
    );
    assert.equal(a.code, 0, a.stderr);
    const incoming = () => fs.readdirSync('/var/spool/outbox/incoming').filter((n) => n.endsWith('.env')).length;
    const before = incoming();
    const s1 = await asNobody('/usr/sbin/sendmail', ['-i', 'new@example.com'], {}, 'Subject: new\n\nhello\n');
    assert.equal(s1.code, 0, s1.stderr);
    assert.match(
      s1.stderr,
      /^sendmail: note: your private queue .*\/\.local\/state\/outbox still holds 1 message, .* move them there with: outbox migrate-spool \(this note is shown once\)\n$/,
    );
    const s2 = await asNobody('/usr/bin/mailq', []);
    assert.doesNotMatch(s2.stderr, /private queue/);
    const m = await asNobody('/bin/sh', ['-c', 'outbox migrate-spool']);
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /: moved to the system queue as [0-9A-Z]{12}\n1 message moved /);
    assert.equal(incoming(), before + 2, 'the new message and the moved one wait in incoming/');
    assert.deepEqual(fs.readdirSync(path.join(priv, 'ctl')), []);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('uninstall.sh restores the previous sendmail and keeps the queue; --purge removes the rest', async () => {
  const r = await run(UNINSTALL, []);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const l of LINKS)
    assert.equal(
      describe(l),
      initial.split('\n').find((x) => x.startsWith(`${l}: `)),
    );
  assert.equal(fs.readdirSync('/var/spool/outbox/ctl').length, 1, 'the queue is kept');
  assert.match(r.stdout, /kept the queue \/var\/spool\/outbox \(1 message\(s\)\)/);
  assert.ok(!fs.existsSync('/usr/local/sbin/outbox'));
  assert.ok(!fs.lstatSync('/usr/local/bin/outbox', { throwIfNoEntry: false }), 'the user-facing link is gone');
  const p = await run(UNINSTALL, ['--purge']);
  assert.equal(p.code, 0, p.stdout + p.stderr);
  assert.equal(machineState(), initial);
});

test("install.sh --slim: the slim variant on the system's Node delivers a message; install.sh switches back; uninstall --purge restores", async () => {
  const { startRelay } = await import('../helpers/relay.js');
  const relay = await startRelay({ users: { outbox: 'slim-secret' } });
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-slim-'));
  fs.chmodSync(scratch, 0o755);
  const ca = path.join(scratch, 'ca.pem');
  fs.copyFileSync(relay.caFile, ca);
  fs.chmodSync(ca, 0o644);
  try {
    const r = await run(INSTALL, ['--slim', '--force'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(fs.readlinkSync('/usr/local/sbin/outbox'), '/usr/local/lib/outbox/outbox');
    for (const l of LINKS) assert.equal(fs.readlinkSync(l), '/usr/local/sbin/outbox');
    for (const f of ['outbox', 'configure-node']) assert.equal(fs.statSync(`/usr/local/lib/outbox/${f}`).mode & 0o7777, 0o755, f);
    for (const f of ['slim.cjs', 'outbox.cjs', 'node-flags']) assert.equal(fs.statSync(`/usr/local/lib/outbox/${f}`).mode & 0o7777, 0o644, f);
    assert.match(r.stdout, /wrote \/usr\/local\/lib\/outbox\/node-flags/);
    const again = await run(INSTALL, ['--slim', '--force'], { timeoutMs: 120_000 });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /nothing to change \(0 changes\)/);
    // A user submits through the launcher with a hostile NODE_OPTIONS: it does not apply, and
    // nothing is printed (no V8 flag warning either).
    const s = await run('setpriv', ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', '/usr/sbin/sendmail', '-i', 'slim@example.com'], {
      input: 'Subject: slim variant\n\nhello\n',
      env: { HOME: '/', NODE_OPTIONS: '--require=/nonexistent.js', NODE_DEBUG: 'module' },
    });
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.stderr, '');
    const p = await run('/usr/local/sbin/outbox', ['pickup', '-v']);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stderr, /1 queued/);
    fs.writeFileSync('/etc/outbox/relay.password', 'slim-secret\n');
    const gid = Number(sh('getent', ['group', 'outbox']).stdout.split(':')[2]);
    fs.chownSync('/etc/outbox/relay.password', 0, gid);
    fs.chmodSync('/etc/outbox/relay.password', 0o640);
    // Root starts the queue run; the runner works as outbox (a child started through the launcher).
    const q = await run('/usr/sbin/sendmail', ['-q'], {
      env: { OUTBOX_RELAY: relay.url(), OUTBOX_RELAY_CA: ca, OUTBOX_RELAY_PASSWORD_FILE: '/etc/outbox/relay.password', OUTBOX_LOG: 'stderr' },
      timeoutMs: 60_000,
    });
    assert.equal(q.code, 0, q.stdout + q.stderr);
    assert.match(q.stderr, /to=<slim@example\.com>, relay=.*status=sent/);
    assert.equal(relay.received.length, 1);
    assert.match(relay.received[0]!.data.toString(), /Subject: slim variant/);
    const m = await run('/usr/bin/mailq', []);
    assert.match(m.stdout, /Mail queue is empty/);
    // install.sh without --slim replaces the slim variant by the executable.
    const sea = await run(INSTALL, ['--force'], { timeoutMs: 120_000 });
    assert.equal(sea.code, 0, sea.stdout + sea.stderr);
    assert.ok(fs.lstatSync('/usr/local/sbin/outbox').isFile());
    assert.ok(!fs.existsSync('/usr/local/lib/outbox'));
    const back = await run(INSTALL, ['--slim', '--force'], { timeoutMs: 120_000 });
    assert.equal(back.code, 0, back.stdout + back.stderr);
    assert.equal(fs.readlinkSync('/usr/local/sbin/outbox'), '/usr/local/lib/outbox/outbox');
    const u = await run(UNINSTALL, ['--purge']);
    assert.equal(u.code, 0, u.stdout + u.stderr);
    assert.match(u.stdout, /removed \/usr\/local\/lib\/outbox/);
    assert.equal(machineState(), initial);
  } finally {
    await relay.close();
    fs.rmSync(scratch, { recursive: true, force: true });
    // After a failure half-way: leave no installation behind for the package tests that follow.
    if (fs.lstatSync('/usr/local/sbin/outbox', { throwIfNoEntry: false })) spawnSync(UNINSTALL, ['--purge'], { stdio: 'ignore' });
  }
});

let deb = '';

test('build-deb: outbox_<version>_amd64.deb that provides, conflicts with and replaces mail-transport-agent', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-deb-'));
  const b = await run(BUILD_DEB, [out], { timeoutMs: 120_000 });
  assert.equal(b.code, 0, b.stderr);
  deb = b.stdout.trim();
  const version = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).version;
  assert.equal(path.basename(deb), `outbox_${version}_amd64.deb`);
  const info = execFileSync('dpkg-deb', ['--info', deb], { encoding: 'utf8' });
  for (const re of [
    /Package: outbox/,
    new RegExp(`Version: ${version.replace(/\./g, '\\.')}`),
    /Architecture: amd64/,
    /Provides: mail-transport-agent/,
    /Conflicts: mail-transport-agent/,
    /Replaces: mail-transport-agent/,
    /postinst/,
    /postrm/,
    /conffiles/,
  ]) {
    assert.match(info, re);
  }
  const contents = execFileSync('dpkg-deb', ['--contents', deb], { encoding: 'utf8' });
  assert.match(contents, /-rwxr-xr-x root\/root +\d+ .* \.\/usr\/sbin\/outbox\n/);
  assert.match(contents, /\.\/usr\/sbin\/sendmail -> outbox/);
  assert.match(contents, /\.\/usr\/bin\/mailq -> \.\.\/sbin\/outbox/);
  assert.match(contents, /\.\/usr\/bin\/newaliases -> \.\.\/sbin\/outbox/);
  assert.match(contents, /\.\/usr\/bin\/outbox -> \.\.\/sbin\/outbox/);
  assert.match(contents, /\.\/usr\/lib\/systemd\/system\/outbox\.service/);
  assert.match(contents, /\.\/usr\/lib\/systemd\/system\/outbox-queue\.timer/);
  for (const page of ['man1/mailq.1', 'man5/outbox.conf.5', 'man8/outbox.8', 'man8/sendmail.8', 'man8/newaliases.8']) {
    assert.match(contents, new RegExp(`-rw-r--r-- root/root .* \\./usr/share/man/${page.replace(/\./g, '\\.')}\\.gz\n`));
  }
  assert.match(contents, /-rw-r--r-- root\/root .* \.\/etc\/outbox\/outbox\.conf/);
  assert.equal(execFileSync('dpkg-deb', ['--field', deb, 'Package'], { encoding: 'utf8' }).trim(), 'outbox');
  assert.equal(
    execFileSync('sh', ['-c', 'dpkg-deb --ctrl-tarfile "$1" | tar -xOf - ./conffiles', 'sh', deb], { encoding: 'utf8' }).trim(),
    '/etc/outbox/outbox.conf',
  );
});

/** Install DEB with apt-get and dpkg -i in an overlay, deliver a message, purge (see the header). */
async function debInOverlay(deb: string, slim: boolean): Promise<void> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-overlay-'));
  const script = `set -eu
T=$1; DEB=$2
for d in usr etc var; do
  mkdir -p "$T/$d.u" "$T/$d.w"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$T/$d.u,workdir=$T/$d.w" "/$d"
done
echo "== apt"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Use-Pty=0 "$DEB" >"$T/apt.log" 2>&1 || { cat "$T/apt.log"; exit 1; }
dpkg-query -W -f='outbox ${'${db:Status-Abbrev}'}\\n' outbox
# Purging the package that provides mail-transport-agent: dpkg refuses while anything installed
# needs an MTA (bsd-mailx, mutt, ... whatever this machine has). What is tested is outbox's own
# removal on any machine, so such packages are left with the dependency unmet: --force-depends,
# in this throwaway overlay only. (A failing postrm still fails the purge.)
purge() { dpkg --purge --force-depends outbox >"$T/purge.log" 2>&1 || { cat "$T/purge.log"; exit 1; }; }
echo "== purge"
purge
[ ! -e /usr/sbin/outbox ] && [ ! -e /usr/lib/outbox ] && [ ! -e /var/spool/outbox ] && ! getent passwd outbox >/dev/null && echo "purged clean"
echo "== dpkg -i"
dpkg -i "$DEB" >/dev/null
dpkg-query -W -f='outbox ${'${db:Status-Abbrev}'}\\n' outbox
readlink /usr/sbin/sendmail
readlink -f /usr/sbin/sendmail
[ ! -f /usr/lib/outbox/node-flags ] || echo "node-flags: $(cat /usr/lib/outbox/node-flags)"
setpriv --reuid nobody --regid nogroup --clear-groups env PATH=${USER_PATH} HOME=/ sh -c 'echo "user finds $(command -v outbox) $(command -v mailq)"'
stat -c 'spool %U %a' /var/spool/outbox; stat -c 'incoming %U %a' /var/spool/outbox/incoming
systemd-analyze verify /usr/lib/systemd/system/outbox.service /usr/lib/systemd/system/outbox-queue.service /usr/lib/systemd/system/outbox-queue.timer && echo "units verified"
printf 'Subject: from the package\\n\\nhello\\n' | setpriv --reuid nobody --regid nogroup --clear-groups env HOME=/ /usr/sbin/sendmail -i deb@example.com
echo "submitted rc=$?"
/usr/sbin/outbox pickup 2>&1
stat -c 'queued %U %a' /var/spool/outbox/ctl/*
mailq
# The relay password as docs/privilege-model.md says: root:outbox 0640. Root starts the run.
printf '%s\n' "$RELAY_PASSWORD" > /etc/outbox/relay.password
chown root:outbox /etc/outbox/relay.password
chmod 0640 /etc/outbox/relay.password
OUTBOX_RELAY_PASSWORD_FILE=/etc/outbox/relay.password OUTBOX_LOG=stderr /usr/sbin/sendmail -q 2>&1
echo "queue run rc=$?"
mailq
echo "== purge"
purge
[ ! -e /usr/sbin/outbox ] && [ ! -e /usr/lib/outbox ] && [ ! -e /var/spool/outbox ] && [ ! -e /etc/outbox ] && ! getent passwd outbox >/dev/null && echo "purged clean"
`;
  fs.writeFileSync(path.join(scratch, 'run.sh'), script);
  fs.chmodSync(scratch, 0o755);
  const { startRelay } = await import('../helpers/relay.js');
  const relay = await startRelay({ users: { outbox: 'deb-secret' } });
  const ca = path.join(scratch, 'ca.pem');
  fs.copyFileSync(relay.caFile, ca);
  fs.chmodSync(ca, 0o644);
  try {
    const env = { OUTBOX_RELAY: relay.url(), OUTBOX_RELAY_CA: ca, RELAY_PASSWORD: 'deb-secret' };
    const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', path.join(scratch, 'run.sh'), scratch, deb], { timeoutMs: 120_000, env });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = r.stdout;
    assert.equal((out.match(/^outbox ii $/gm) ?? []).length, 2, out);
    assert.equal((out.match(/^purged clean$/gm) ?? []).length, 2, out);
    assert.match(out, /^outbox$/m, 'sendmail -> outbox');
    assert.match(out, slim ? /^\/usr\/lib\/outbox\/outbox$/m : /^\/usr\/sbin\/outbox$/m, 'the program sendmail runs');
    if (slim) assert.match(out, /^node-flags: /m);
    else assert.doesNotMatch(out, /^node-flags/m);
    assert.match(out, /^user finds \/usr\/bin\/outbox \/usr\/bin\/mailq$/m);
    assert.match(out, /^spool outbox 711$/m);
    assert.match(out, /^incoming outbox 1733$/m);
    assert.match(out, /^units verified$/m);
    assert.match(out, /^submitted rc=0$/m);
    assert.match(out, /picked up from incoming/);
    assert.match(out, /^queued outbox 600$/m);
    assert.match(out, /deb@example\.com/);
    assert.match(out, /to=<deb@example\.com>, relay=.*status=sent/);
    assert.match(out, /^queue run rc=0$/m);
    assert.match(out, /Mail queue is empty/);
    assert.equal(relay.received.length, 1);
    assert.deepEqual(relay.received[0]!.rcptTo, ['deb@example.com']);
    assert.match(relay.received[0]!.data.toString(), /Subject: from the package/);
  } finally {
    await relay.close();
    fs.rmSync(scratch, { recursive: true, force: true });
    fs.rmSync(path.dirname(deb), { recursive: true, force: true });
  }
  // Nothing of it leaked out of the namespace.
  assert.equal(machineState(), initial);
}

test('the .deb installs with apt (replacing the MTA) and dpkg -i, delivers a message to the relay, and purges (in an overlay)', async () => {
  assert.ok(deb, 'the previous test built the .deb');
  await debInOverlay(deb, false);
});

let slimDeb = '';

test('build-deb --slim: outbox_<version>_all.deb, Depends nodejs (>= 20), the launcher and the bundle, under 1 MB', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-deb-slim-'));
  const b = await run(BUILD_DEB, ['--slim', out], { timeoutMs: 120_000 });
  assert.equal(b.code, 0, b.stderr);
  slimDeb = b.stdout.trim();
  const version = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).version;
  assert.equal(path.basename(slimDeb), `outbox_${version}_all.deb`);
  assert.ok(fs.statSync(slimDeb).size < 1_000_000, `${fs.statSync(slimDeb).size} bytes`);
  const info = execFileSync('dpkg-deb', ['--info', slimDeb], { encoding: 'utf8' });
  for (const re of [/Architecture: all/, /Depends: passwd, nodejs \(>= 20\)/, /Provides: mail-transport-agent/, /Conflicts: mail-transport-agent/, /triggers/])
    assert.match(info, re);
  assert.equal(
    execFileSync('sh', ['-c', 'dpkg-deb --ctrl-tarfile "$1" | tar -xOf - ./triggers', 'sh', slimDeb], { encoding: 'utf8' }).trim(),
    'interest-noawait /usr/bin/node',
  );
  const contents = execFileSync('dpkg-deb', ['--contents', slimDeb], { encoding: 'utf8' });
  assert.match(contents, /\.\/usr\/sbin\/outbox -> \.\.\/lib\/outbox\/outbox\n/);
  for (const f of ['outbox', 'configure-node']) assert.match(contents, new RegExp(`-rwxr-xr-x root/root .* \\./usr/lib/outbox/${f}\n`));
  for (const f of ['slim.cjs', 'outbox.cjs']) assert.match(contents, new RegExp(`-rw-r--r-- root/root .* \\./usr/lib/outbox/${f.replace('.', '\\.')}\n`));
  assert.match(contents, /\.\/usr\/sbin\/sendmail -> outbox/);
});

test("the _all.deb installs with apt and dpkg -i on the system's Node, delivers a message to the relay, and purges (in an overlay)", async () => {
  assert.ok(slimDeb, 'the previous test built the _all.deb');
  await debInOverlay(slimDeb, true);
});
