/**
 * Built-in OAuth 2.0 end to end, against a real authorization server (oidc-provider on
 * 127.0.0.1, test/helpers/oauth.ts) and a relay that checks every XOAUTH2/OAUTHBEARER token
 * with that server: `outbox oauth login` (device flow, approved as a user would), tokens
 * refreshed when they expire and again when the relay refuses one, refresh token rotation, a
 * revoked grant (held, never bounced, named fix; delivered once after a new login), and a token
 * endpoint that is down (temporary).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { APP_CLIENT_ID, APP_CLIENT_SECRET, CLIENT_ID, startOAuthServer, type OAuthServer } from '../helpers/oauth.js';
import { startRelay, type TestRelay } from '../helpers/relay.js';
import { MAILQ, OUTBOX, SENDMAIL, controls, run, sleep, start, tempSpool, type TempSpool } from '../helpers/run.js';

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Setup {
  as: OAuthServer;
  relay: TestRelay;
  t: TempSpool;
  env: Record<string, string>;
  tokenFile: string;
}

async function setup(opts: { accessTokenTtl?: number; mechanism?: 'XOAUTH2' | 'OAUTHBEARER'; app?: boolean } = {}): Promise<Setup> {
  const as = await startOAuthServer(opts.accessTokenTtl ? { accessTokenTtl: opts.accessTokenTtl } : {});
  const mech = opts.mechanism ?? 'XOAUTH2';
  const relay = await startRelay({ authMethods: [mech], users: { 'me@example.com': 'unused' }, oauthValidate: (_u, token) => as.valid(token) });
  const t = tempSpool('outbox-oauth-');
  cleanups.push(
    () => as.close(),
    () => relay.close(),
    () => t.cleanup(),
  );
  const conf = path.join(t.dir, 'outbox.conf');
  fs.writeFileSync(
    conf,
    [
      'default_relay = "m"',
      '[relay.m]',
      `url = "smtp+starttls://me%40example.com@127.0.0.1:${relay.port}"`,
      `auth = "${mech}"`,
      `ca_file = "${relay.caFile}"`,
      '[relay.m.oauth]',
      'provider = "custom"',
      `token_url = "${as.tokenUrl}"`,
      ...(opts.app
        ? [`client_id = "${APP_CLIENT_ID}"`, 'grant = "client_credentials"', `client_secret_file = "${path.join(t.dir, 'app.secret')}"`, 'scope = "smtp"']
        : [`client_id = "${CLIENT_ID}"`, `device_url = "${as.deviceUrl}"`, 'scope = "openid offline_access smtp"']),
      '',
    ].join('\n'),
  );
  if (opts.app) fs.writeFileSync(path.join(t.dir, 'app.secret'), `${APP_CLIENT_SECRET}\n`, { mode: 0o600 });
  const env = { ...t.env, OUTBOX_CONFIG: conf, OUTBOX_LOG: 'stderr' };
  return { as, relay, t, env, tokenFile: path.join(t.spool, 'oauth', 'm.json') };
}

/** `outbox oauth login m`, approved in the "browser" as soon as it prints the code. */
async function login(s: Setup): Promise<string> {
  const child = start(OUTBOX, ['oauth', 'login', 'm'], { env: s.env });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin!.end();
  const t0 = Date.now();
  while (!/enter the code\n\s+(\S+)/.test(out) && Date.now() - t0 < 30_000) await sleep(20);
  const uri = /open\n\s+(\S+)/.exec(out)?.[1];
  const code = /enter the code\n\s+(\S+)/.exec(out)?.[1];
  assert.ok(uri && code, `no verification URL and code printed: ${out}${err}`);
  await s.as.approve(uri, code);
  const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
  assert.equal(status, 0, out + err);
  return out;
}

async function queue(s: Setup, rcpt: string): Promise<void> {
  const r = await run(SENDMAIL, ['-odq', '-f', 'me@example.com', rcpt], { env: s.env, input: `Subject: to ${rcpt}\n\nhello\n` });
  assert.equal(r.code, 0, r.stderr);
}

async function queueRun(s: Setup) {
  const r = await run(SENDMAIL, ['-q'], { env: s.env, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  return r;
}

function tokens(s: Setup): { refresh_token?: string; access_token?: string; expires_at?: number } {
  return JSON.parse(fs.readFileSync(s.tokenFile, 'utf8'));
}

describe('built-in OAuth 2.0 (oidc-provider as the authorization server)', () => {
  it('outbox oauth login runs the device flow; the tokens are stored 0600 and deliver mail', async () => {
    const s = await setup();
    const out = await login(s);
    assert.match(out, /signed in; tokens stored in .*m\.json/);
    assert.doesNotMatch(out, new RegExp(tokens(s).refresh_token!), 'a token is never printed');
    assert.equal(fs.statSync(s.tokenFile).mode & 0o777, 0o600);
    await queue(s, 'a@example.com');
    const r = await queueRun(s);
    assert.deepEqual(
      s.relay.received.map((m) => m.rcptTo[0]),
      ['a@example.com'],
    );
    assert.equal(s.relay.received[0]!.authUser, 'me@example.com');
    assert.doesNotMatch(r.stderr, new RegExp(tokens(s).access_token!));
    const st = await run(OUTBOX, ['oauth', 'status'], { env: s.env });
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /relay m: access token valid for \d+ min, refresh token 0 day\(s\) old/);
  });

  it('an expired access token is refreshed (the refresh token rotates); one the relay refuses is replaced at once', async () => {
    const s = await setup({ accessTokenTtl: 3 });
    await login(s);
    const first = tokens(s);
    await sleep(3500); // the access token has expired
    await queue(s, 'b@example.com');
    await queueRun(s);
    assert.deepEqual(
      s.relay.received.map((m) => m.rcptTo[0]),
      ['b@example.com'],
    );
    const second = tokens(s);
    assert.notEqual(second.access_token, first.access_token, 'a new access token');
    assert.notEqual(second.refresh_token, first.refresh_token, 'the rotated refresh token was stored');
    assert.ok(s.as.tokenRequests.some((x) => x.grant === 'refresh_token' && x.status === 200));

    // The relay refuses a token we still think valid (revoked early, clock skew): refreshed once, same session.
    await sleep(3500);
    fs.writeFileSync(s.tokenFile, JSON.stringify({ ...tokens(s), expires_at: Date.now() + 3_600_000 }), { mode: 0o600 });
    await queue(s, 'c@example.com');
    await queueRun(s);
    assert.deepEqual(
      s.relay.received.map((m) => m.rcptTo[0]),
      ['b@example.com', 'c@example.com'],
    );
    assert.deepEqual(
      s.relay.oauthTokens.slice(-2).map((x) => x.valid),
      [false, true],
      'refused once, then a fresh token',
    );
  });

  it('a revoked grant holds the mail (never bounced) and names the fix; after a new login it goes out once', async () => {
    const s = await setup({ accessTokenTtl: 2 });
    await login(s);
    await s.as.revokeAll();
    await sleep(2500);
    await queue(s, 'd@example.com');
    const r = await queueRun(s);
    assert.match(r.stderr, /invalid_grant/);
    assert.match(r.stderr, /outbox oauth login m/);
    assert.equal(s.relay.received.length, 0);
    const q = await run(MAILQ, [], { env: s.env });
    assert.match(q.stdout, /outbox oauth login m/);
    assert.equal(controls(s.t.spool).filter((c) => c.origin === 'bounce').length, 0, 'no bounce');
    const st = await run(OUTBOX, ['oauth', 'status'], { env: s.env });
    assert.equal(st.code, 0, 'status only reads the file'); // the refusal shows at the next use
    // The monitoring check turns CRITICAL and names the fix.
    const mon = await run(OUTBOX, ['check', '--queue'], { env: s.env });
    assert.equal(mon.code, 2, mon.stdout + mon.stderr);
    assert.match(mon.stdout, /^OUTBOX QUEUE CRITICAL/m);
    assert.doesNotMatch(mon.stdout, /refused our login/, 'not blamed on a password');
    assert.match(mon.stdout, /outbox oauth login m/);
    await login(s);
    await queueRun(s);
    await queueRun(s);
    assert.deepEqual(
      s.relay.received.map((m) => m.rcptTo[0]),
      ['d@example.com'],
      'delivered exactly once',
    );
    assert.deepEqual(controls(s.t.spool), []);
  });

  it('a token endpoint that is down is temporary; the mail goes once it is back', async () => {
    const s = await setup({ accessTokenTtl: 2 });
    await login(s);
    await s.as.stop();
    await sleep(2500);
    await queue(s, 'e@example.com');
    const r = await queueRun(s);
    assert.match(r.stderr, /token endpoint .* not reachable/);
    assert.equal(s.relay.received.length, 0);
    const rec = controls(s.t.spool)[0]!;
    assert.equal(rec.recipients[0].status, 'deferred');
    const q = await run(MAILQ, [], { env: s.env });
    assert.match(q.stdout, /not reachable/);
    assert.doesNotMatch(q.stdout, /oauth login|refused our login|fix:/, 'temporary: nothing for the administrator to fix');
    const mon = await run(OUTBOX, ['check', '--queue'], { env: s.env });
    assert.equal(mon.code, 0, `a temporary deferral is not a held message: ${mon.stdout}`);
    await s.as.start();
    await queueRun(s);
    assert.deepEqual(
      s.relay.received.map((m) => m.rcptTo[0]),
      ['e@example.com'],
    );
  });

  it('the client credentials grant (an application with its own secret, as Microsoft 365 allows) needs no login and delivers', async () => {
    const s = await setup({ app: true, accessTokenTtl: 2 });
    const ok = await run(OUTBOX, ['oauth', 'login', 'm'], { env: s.env });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /client credentials accepted/);
    await queue(s, 'g@example.com');
    await queueRun(s);
    await sleep(2500); // that token has expired: the next run gets another one by itself
    await queue(s, 'h@example.com');
    await queueRun(s);
    assert.deepEqual(
      s.relay.received.map((m) => m.rcptTo[0]),
      ['g@example.com', 'h@example.com'],
    );
    assert.ok(s.as.tokenRequests.filter((x) => x.grant === 'client_credentials' && x.status === 200).length >= 2, JSON.stringify(s.as.tokenRequests));
    // A wrong secret is this host's configuration problem: held, named.
    fs.writeFileSync(path.join(s.t.dir, 'app.secret'), 'wrong\n', { mode: 0o600 });
    fs.rmSync(s.tokenFile);
    await queue(s, 'i@example.com');
    const r = await queueRun(s);
    assert.match(r.stderr, /invalid_client/);
    assert.equal(s.relay.received.length, 2);
  });

  it('OAUTHBEARER (RFC 7628) with the same tokens', async () => {
    const s = await setup({ mechanism: 'OAUTHBEARER' });
    await login(s);
    await queue(s, 'f@example.com');
    await queueRun(s);
    assert.deepEqual(
      s.relay.received.map((m) => m.rcptTo[0]),
      ['f@example.com'],
    );
    assert.ok(
      s.relay.sessions.some((x) => x.commands.some((c) => /^AUTH OAUTHBEARER/.test(c))),
      'AUTH OAUTHBEARER was used',
    );
  });
});
