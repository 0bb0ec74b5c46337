/**
 * End to end: no TLS downgrade by fallback (issue 11 M6). The primary relay requires STARTTLS;
 * its fallback `p` is plain smtp://. A man in the middle refusing STARTTLS, or a self-signed
 * certificate on the primary, must not send the message in clear to `p`: it stays deferred
 * with the TLS reason. A connection failure still uses the fallback (what fallbacks are for), a
 * fallback as strong as the primary is still used after a TLS failure, and `outbox config check`
 * warns about the weaker fallback.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { OUTBOX, SENDMAIL, controls, run, spoolsForFile } from '../helpers/run.js';

const spool = spoolsForFile(after, 'outbox-fallback-tls-');
const relays: TestRelay[] = [];
after(async () => {
  for (const r of relays) await r.close();
});

async function relay(opts: Parameters<typeof startRelay>[0]): Promise<TestRelay> {
  const r = await startRelay(opts);
  relays.push(r);
  return r;
}

async function deadPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

/** A spool and a configuration: relay main = primaryUrl (with the test CA), fallbacks as given. */
function setup(primaryUrl: string, ca: string, fallbacks: Record<string, string[]>) {
  const t = spool();
  fs.mkdirSync(t.dir, { recursive: true });
  const pw = path.join(t.dir, 'pw');
  fs.writeFileSync(pw, 'secret\n', { mode: 0o600 });
  const conf = path.join(t.dir, 'outbox.conf');
  const lines = ['default_relay = "main"', '[relay.main]', `url = "${primaryUrl}"`, `password_file = "${pw}"`, `ca_file = "${ca}"`, 'connect_timeout = "5s"'];
  lines.push(
    `fallbacks = [${Object.keys(fallbacks)
      .map((n) => `"${n}"`)
      .join(', ')}]`,
  );
  for (const [name, extra] of Object.entries(fallbacks)) lines.push(`[relay.${name}]`, ...extra);
  fs.writeFileSync(conf, lines.join('\n') + '\n', { mode: 0o600 });
  return { t, conf, env: { ...t.env, OUTBOX_CONFIG: conf, OUTBOX_LOG: 'stderr' } };
}

async function queueAndRun(env: Record<string, string>) {
  const sub = await run(SENDMAIL, ['-odq', '-f', 'app@example.com', 'a@example.com'], {
    env,
    input: 'Subject: secret plans\n\nthe body must not travel in clear\n',
  });
  assert.equal(sub.code, 0, sub.stderr);
  const r = await run(SENDMAIL, ['-q'], { env, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  return r;
}

describe('a TLS failure of the primary never moves mail to a weaker fallback', () => {
  for (const attack of ['STARTTLS refused (stripped by a man in the middle)', 'self-signed certificate on the primary'] as const) {
    it(`${attack}: not delivered to the plain fallback, deferred with the TLS reason`, async () => {
      const primary = attack.startsWith('STARTTLS') ? await relay({ starttls: false }) : await relay({ cert: 'selfsigned' });
      const plain = await relay({ starttls: false, authRequired: false });
      const s = setup(primary.url(), primary.caFile, { p: [`url = "smtp://localhost:${plain.port}"`] });
      const r = await queueAndRun(s.env);
      assert.equal(plain.received.length, 0, `the message went in clear to the fallback:\n${r.stderr}`);
      assert.equal(primary.received.length, 0);
      assert.match(
        r.stderr,
        /relay main failed TLS .*; not used: fallback p \(plain SMTP without TLS\) is weaker than relay main \(TLS verified by CAs without a certificate pin\)/,
      );
      const [rec] = controls(s.t.spool);
      assert.ok(rec, 'the message stays queued');
      assert.equal(rec.recipients[0].status, 'deferred');
      assert.match(rec.lastError, /TLS|STARTTLS/);
      const q = await run(SENDMAIL, ['-bp'], { env: s.env });
      assert.match(q.stdout, /a@example\.com/);
    });
  }

  it('a fallback as strong as the primary is still used after a TLS failure', async () => {
    const primary = await relay({ cert: 'selfsigned' });
    const good = await relay({});
    // (An inline password is allowed: setup writes the file 0600.)
    const s = setup(primary.url(), primary.caFile, {
      plain: [`url = "smtp://localhost:${await deadPort()}"`],
      good: [`url = "${good.url()}"`, 'password = "secret"', `ca_file = "${good.caFile}"`],
    });
    const r = await queueAndRun(s.env);
    assert.match(r.stderr, /not used: fallback plain \(plain SMTP without TLS\) is weaker/);
    assert.match(r.stderr, /using fallback good/);
    assert.equal(good.received.length, 1, r.stderr);
    assert.deepEqual(controls(s.t.spool), []);
  });

  it('a connection failure of the primary still uses the plain fallback (what it is configured for)', async () => {
    const plain = await relay({ starttls: false, authRequired: false });
    const s = setup(`smtp+starttls://outbox@localhost:${await deadPort()}`, plain.caFile, { p: [`url = "smtp://localhost:${plain.port}"`] });
    const r = await queueAndRun(s.env);
    assert.match(r.stderr, /relay main failed .*using fallback p/);
    assert.equal(plain.received.length, 1, r.stderr);
  });

  it('outbox config check warns about a fallback weaker than its primary, and exits 0', async () => {
    const s = setup('smtp+starttls://outbox@localhost:587', '/dev/null', { p: ['url = "smtp://localhost:25"'] });
    const r = await run(OUTBOX, ['config', 'check', '--no-secrets'], { env: s.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /warning: .*relay\.main\.fallbacks: fallback p \(plain SMTP without TLS\) is weaker than relay main \(TLS verified by CAs without a certificate pin\); after a TLS failure of main it is skipped/,
    );
  });
});
