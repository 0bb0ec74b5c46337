/**
 * The delivery engine in-process, against the scripted relay, for settings that only the
 * configuration file can give (no binary involved): AUTH mechanisms, XOAUTH2 token command,
 * certificate pinning, client certificates, routes to several relays and hold, delay warnings,
 * expiry after the maximum queue lifetime, and configuration problems that never expire.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { startRelay, type RelayOptions, type TestRelay } from '../../helpers/relay.js';
import { testPki } from '../../helpers/pki.js';
import { loadConfig, type Config } from '../../../src/config/config.js';
import type { RelaySettings } from '../../../src/config/types.js';
import { Engine, type MessageResult } from '../../../src/runner/engine.js';
import { relaysFor } from '../../../src/relay/env.js';
import type { Log } from '../../../src/log/log.js';
import { submit } from '../../../src/submit/submit.js';
import { ensureSpool, readControl, writeControl } from '../../../src/spool/spool.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function relay(opts: RelayOptions = {}): Promise<TestRelay> {
  const r = await startRelay(opts);
  cleanups.push(() => r.close());
  return r;
}

function tmp(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-engine-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function relaySettings(r: TestRelay, dir: string, extra: Partial<RelaySettings> = {}, name = 'main'): RelaySettings {
  const pw = path.join(dir, `pw-${name}`);
  fs.writeFileSync(pw, 'secret\n', { mode: 0o600 });
  return { name, url: r.url(), passwordFile: pw, caFile: r.caFile, ...extra };
}

function makeConfig(dir: string, relays: Record<string, RelaySettings>, more: Partial<Config> = {}): Config {
  const base = loadConfig({ env: { OUTBOX_SPOOL: path.join(dir, 'spool') }, uid: 1000, home: dir });
  return relaysFor({ ...base, relays, lockStaleMs: 2000, ...more }, {});
}

function captureLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  return { target: 'none', lines, line: (id, text) => void lines.push(id ? `${id}: ${text}` : text), close: async () => {} };
}

async function queue(config: Config, rcpts: string[], opts: { sender?: string; notify?: string[] } = {}): Promise<string> {
  const r = await submit({
    config,
    submitter: { uid: 1000, name: 'tester' },
    sender: opts.sender ?? 'sender@example.com',
    recipients: rcpts,
    extractRecipients: false,
    ignoreDots: true,
    dsn: opts.notify ? { notify: opts.notify } : {},
    origin: 'sendmail',
    received: (id) => `by test id ${id}`,
    input: (async function* () {
      yield Buffer.from('Subject: engine\n\nbody\n');
    })(),
  });
  return r.id;
}

async function deliver(
  config: Config,
  ids: string[],
  log = captureLog(),
  slots = 2,
  now?: () => number,
): Promise<{ results: MessageResult[]; log: typeof log }> {
  const engine = new Engine({ config, paths: ensureSpool(config.spool), log, env: {}, slots, idleMs: 0, relayDownMs: 60_000, ...(now ? { now } : {}) });
  const results: MessageResult[] = [];
  engine.onResult = (r) => {
    results.push(r);
    for (const b of r.bounceIds) engine.enqueue(b, true);
  };
  for (const id of ids) engine.enqueue(id, true);
  await engine.idle();
  await engine.stop(0);
  return { results, log };
}

/** A server that accepts connections and never says a word (closed after the tests). */
async function silentServer(): Promise<{ port: number; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const srv = net.createServer((c) => void sockets.push(c));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const c of sockets) c.destroy();
        srv.close(() => r());
      }),
  );
  return { port: (srv.address() as net.AddressInfo).port, sockets };
}

describe('engine: AUTH mechanisms', () => {
  for (const mech of ['LOGIN', 'CRAM-MD5'] as const) {
    it(`${mech} when configured`, async () => {
      const r = await relay();
      const dir = tmp();
      const config = makeConfig(dir, { main: relaySettings(r, dir, { authMechanism: mech }) });
      const id = await queue(config, ['a@example.com']);
      await deliver(config, [id]);
      assert.equal(r.received.length, 1);
      assert.ok(
        r.sessions.some((s) => s.commands.some((c) => c.toUpperCase().startsWith(`AUTH ${mech}`))),
        r.sessions.map((s) => s.commands.join('|')).join('\n'),
      );
    });
  }
  it('XOAUTH2 with a token from a command', async () => {
    const r = await relay();
    const dir = tmp();
    const config = makeConfig(dir, { main: { name: 'main', url: r.url(), caFile: r.caFile, oauthTokenCommand: 'echo token-outbox' } });
    const id = await queue(config, ['a@example.com']);
    const { results } = await deliver(config, [id]);
    assert.equal(r.received.length, 1, JSON.stringify([...results[0]!.outcomes.values()]));
    assert.equal(r.received[0]!.authUser, 'outbox');
  });
  it('a failing XOAUTH2 token is deferred as a configuration problem', async () => {
    const r = await relay();
    const dir = tmp();
    const config = makeConfig(dir, { main: { name: 'main', url: r.url(), caFile: r.caFile, oauthTokenCommand: 'echo wrong-token' } });
    const id = await queue(config, ['a@example.com']);
    const { results } = await deliver(config, [id]);
    const o = results[0]!.outcomes.get('a@example.com')!;
    assert.equal(o.status, 'deferred');
    assert.ok(o.fix);
  });
});

describe('engine: certificates', () => {
  it('a matching SHA-256 pin delivers; a wrong pin defers with a certificate hint', async () => {
    const pki = testPki();
    const r = await relay();
    const dir = tmp();
    let config = makeConfig(dir, { main: relaySettings(r, dir, { fingerprints: [pki.good.sha256Hex] }) });
    const id = await queue(config, ['a@example.com']);
    await deliver(config, [id]);
    assert.equal(r.received.length, 1);
    config = makeConfig(dir, { main: relaySettings(r, dir, { fingerprints: [pki.expired.sha256] }) });
    const id2 = await queue(config, ['b@example.com']);
    const { results } = await deliver(config, [id2]);
    assert.equal(r.received.length, 1);
    assert.match(results[0]!.outcomes.get('b@example.com')!.fix!, /certificate/);
  });
  it('presents a client certificate when configured', async () => {
    const pki = testPki();
    const r = await relay({ requestClientCert: true });
    const dir = tmp();
    const config = makeConfig(dir, { main: relaySettings(r, dir, { clientCert: pki.client.certFile, clientKey: pki.client.keyFile }) });
    const id = await queue(config, ['a@example.com']);
    await deliver(config, [id]);
    assert.equal(r.received.length, 1);
    assert.equal(r.sessions.find((s) => s.clientCert)?.clientCert?.subjectCN, 'outbox-client');
  });
});

describe('engine: routes, schedule, expiry', () => {
  it('routes recipients of one message to two relays and holds another', async () => {
    const a = await relay();
    const b = await relay();
    const dir = tmp();
    const config = makeConfig(
      dir,
      { a: relaySettings(a, dir, {}, 'a'), b: relaySettings(b, dir, {}, 'b') },
      {
        defaultRelay: 'a',
        routes: [
          { recipientDomain: 'corp.example', relay: 'b' },
          { recipientDomain: 'frozen.example', relay: 'hold' },
        ],
      },
    );
    const id = await queue(config, ['x@example.com', 'y@corp.example', 'z@frozen.example']);
    await deliver(config, [id]);
    assert.deepEqual(
      a.received.map((m) => m.rcptTo),
      [['x@example.com']],
    );
    assert.deepEqual(
      b.received.map((m) => m.rcptTo),
      [['y@corp.example']],
    );
    const rec = await readControl(ensureSpool(config.spool), id);
    assert.deepEqual(
      rec.recipients.map((r) => r.status),
      ['sent', 'sent', 'pending'],
    );
  });

  it('sends one delay warning once the message is old enough, then none', async () => {
    const r = await relay({ faults: { rcpt: { 'later@example.com': '451 4.3.0 Try later' } } });
    const dir = tmp();
    const config = makeConfig(dir, { main: relaySettings(r, dir) }, { deliverySettings: { delayWarningMs: 1 } });
    const id = await queue(config, ['later@example.com']);
    await new Promise((res) => setTimeout(res, 5));
    await deliver(config, [id]);
    assert.equal(r.received.length, 1);
    assert.equal(r.received[0]!.mailFrom, '');
    assert.match(r.received[0]!.data.toString(), /Action: delayed/);
    await deliver(config, [id]);
    assert.equal(r.received.length, 1, 'warned once');
    assert.equal((await readControl(ensureSpool(config.spool), id)).warned, true);
  });

  it('past the maximum lifetime a deferral becomes a bounce (expired); a configuration problem never does', async () => {
    const r = await relay({ faults: { rcpt: { 'later@example.com': '451 4.3.0 Try later' } } });
    const dir = tmp();
    const config = makeConfig(dir, { main: relaySettings(r, dir) }, { deliverySettings: { maxQueueLifetimeMs: 1000 } });
    const p = ensureSpool(config.spool);
    const id = await queue(config, ['later@example.com']);
    const rec = await readControl(p, id);
    await writeControl(p, { ...rec, arrival: rec.arrival - 10_000 });
    const { results, log } = await deliver(config, [id]);
    assert.equal(results[0]!.outcomes.get('later@example.com')!.status, 'failed');
    assert.ok(log.lines.some((l) => /status=expired/.test(l)));
    assert.equal(r.received.length, 1);
    assert.match(r.received[0]!.data.toString(), /delivery time expired/);

    r.setFaults({ authReply: '535 5.7.8 Authentication failed' });
    const id2 = await queue(config, ['a@example.com']);
    const rec2 = await readControl(p, id2);
    await writeControl(p, { ...rec2, arrival: rec2.arrival - 10_000 });
    const second = await deliver(config, [id2]);
    assert.equal(second.results[0]!.outcomes.get('a@example.com')!.status, 'deferred');
    assert.equal(r.received.length, 1, 'no bounce for a wrong password');
    assert.ok((await readControl(p, id2)).nextAttempt > Date.now());
  });
});

describe('engine: connection limits', () => {
  it('a relay that refuses extra connections gets fewer; every message is still delivered', async () => {
    const r = await relay();
    (r.server as unknown as { options: { maxClients: number } }).options.maxClients = 2;
    const dir = tmp();
    const config = makeConfig(dir, { main: relaySettings(r, dir) });
    const ids: string[] = [];
    for (let i = 0; i < 24; i++) ids.push(await queue(config, [`r${i}@example.com`]));
    const { results, log } = await deliver(config, ids, captureLog(), 8);
    assert.equal(r.received.length, 24, log.lines.filter((l) => !/status=sent|removed|queue active/.test(l)).join('\n'));
    assert.ok(results.every((x) => x.remaining === 0));
    assert.ok(
      log.lines.some((l) => /refused connection \d+ .*using at most/.test(l)),
      'the limit was learned',
    );
  });
  it('max_connections caps a relay; sessions are reused (one login per connection)', async () => {
    const r = await relay();
    const dir = tmp();
    const config = makeConfig(dir, { main: relaySettings(r, dir, { maxConnections: 3 }) });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(await queue(config, [`r${i}@example.com`]));
    await deliver(config, ids, captureLog(), 8);
    assert.equal(r.received.length, 30);
    assert.ok(r.connections <= 3, `${r.connections} connections`);
    assert.equal(r.authAttempts, r.connections);
  });
});

describe('engine: timeouts (a hung relay cannot stall the queue)', () => {
  it('a relay that never sends its greeting: deferred after greeting_timeout', async () => {
    const { port } = await silentServer();
    const dir = tmp();
    const config = makeConfig(dir, { main: { name: 'main', url: `smtp+starttls://localhost:${port}`, greetingTimeoutMs: 300 } });
    const id = await queue(config, ['a@example.com']);
    const t0 = Date.now();
    const { results } = await deliver(config, [id]);
    assert.ok(Date.now() - t0 < 5000);
    const o = results[0]!.outcomes.get('a@example.com')!;
    assert.deepEqual([o.status, o.dsn], ['deferred', '4.4.2']);
  });
  it('a relay that does not answer the end of DATA: deferred after the command timeout', async () => {
    // The relay would answer after 60 s; the 400 ms command timeout must end it long before.
    const r = await relay({ acceptDelayMs: 60_000 });
    const dir = tmp();
    const config = makeConfig(dir, { main: relaySettings(r, dir, { commandTimeoutMs: 400 }) });
    const id = await queue(config, ['a@example.com']);
    const t0 = Date.now();
    const { results } = await deliver(config, [id]);
    assert.ok(Date.now() - t0 < 20_000, `${Date.now() - t0} ms`);
    assert.equal(results[0]!.outcomes.get('a@example.com')!.status, 'deferred');
  });
});

/** Wait (bounded) until `cond` holds. */
async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return cond();
}

describe('engine: a relay that fails is down for the rest of the run', () => {
  it('a wrong password: one failed login per run whatever the queue size, a QUIT after the 535, no false connection limit', async () => {
    const r = await relay();
    const dir = tmp();
    const settings = relaySettings(r, dir);
    fs.writeFileSync(settings.passwordFile!, 'wrong\n', { mode: 0o600 });
    const config = makeConfig(dir, { main: settings });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await queue(config, [`r${i}@example.com`]));
    const { results, log } = await deliver(config, ids, captureLog(), 8);
    assert.equal(results.length, 20);
    assert.ok(results.every((x) => x.outcomes.get([...x.outcomes.keys()][0]!)!.status === 'deferred'));
    assert.equal(r.authAttempts, 1, `${r.authAttempts} logins`);
    assert.equal(r.connections, 1);
    assert.ok(!log.lines.some((l) => /refused connection/.test(l)), log.lines.join('\n'));
    assert.ok(await until(() => r.sessions[0]?.commands.some((c) => /^QUIT$/i.test(c)) === true), `commands: ${r.sessions[0]?.commands.join(' | ')}`);
  });
  it('a relay that never greets: one connection and one timeout for all its messages', async () => {
    const { port, sockets } = await silentServer();
    const dir = tmp();
    const config = makeConfig(dir, { main: { name: 'main', url: `smtp+starttls://localhost:${port}`, greetingTimeoutMs: 500 } });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await queue(config, [`r${i}@example.com`]));
    const { results, log } = await deliver(config, ids, captureLog(), 4);
    assert.equal(sockets.length, 1, `${sockets.length} connections`);
    assert.ok(results.every((x) => x.outcomes.get([...x.outcomes.keys()][0]!)!.dsn === '4.4.2'));
    assert.ok(!log.lines.some((l) => /refused connection/.test(l)), log.lines.join('\n'));
  });
  it('connections still opening are not counted as live: a relay gone down is down, not a "connection limit"', async () => {
    const r = await relay();
    const dir = tmp();
    const config = makeConfig(dir, { main: relaySettings(r, dir) });
    const log = captureLog();
    const engine = new Engine({ config, paths: ensureSpool(config.spool), log, env: {}, slots: 4, idleMs: 60_000, relayDownMs: 60_000 });
    cleanups.push(() => engine.stop(0));
    for (let i = 0; i < 8; i++) engine.enqueue(await queue(config, [`a${i}@example.com`]), true);
    await engine.idle();
    assert.equal(r.received.length, 8);
    assert.ok(r.connections >= 2, `${r.connections} connections`);
    await r.close();
    const results: MessageResult[] = [];
    engine.onResult = (x) => void results.push(x);
    const later: string[] = [];
    for (let i = 0; i < 4; i++) later.push(await queue(config, [`b${i}@example.com`]));
    for (const id of later) engine.enqueue(id, true);
    await engine.idle();
    assert.equal(results.length, 4);
    assert.ok(results.every((x) => [...x.outcomes.values()].every((o) => o.status === 'deferred')));
    assert.ok(!log.lines.some((l) => /refused connection/.test(l)), log.lines.filter((l) => !/status=sent|removed/.test(l)).join('\n'));
  });
  it('-v: each transcript line names its connection when several interleave', async () => {
    const r = await relay();
    const dir = tmp();
    const config = makeConfig(dir, { main: relaySettings(r, dir) });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await queue(config, [`r${i}@example.com`]));
    const lines: string[] = [];
    const engine = new Engine({
      config,
      paths: ensureSpool(config.spool),
      log: captureLog(),
      env: {},
      slots: 4,
      idleMs: 0,
      relayDownMs: 60_000,
      transcript: (l) => void lines.push(l),
    });
    for (const id of ids) engine.enqueue(id, true);
    await engine.idle();
    await engine.stop(0);
    assert.equal(r.received.length, 12);
    assert.ok(r.connections >= 2, `${r.connections} connections`);
    assert.ok(lines.length > 0 && lines.every((l) => /^\[main#\d+\] (>>>|<<<) /.test(l)), lines.filter((l) => !/^\[main#\d+\] /.test(l)).join('\n'));
    const tags = new Set(lines.map((l) => l.split(' ')[0]));
    assert.equal(tags.size, r.connections);
    for (const t of tags) assert.equal(lines.filter((l) => l.startsWith(`${t} >>> AUTH`)).length, 1, `one login per connection (${t})`);
  });
});

describe('engine: UTF-8 addresses (RFC 6531)', () => {
  it('a relay without SMTPUTF8: IDN domains go as A-labels; a UTF-8 local part fails with 5.6.7, nothing UTF-8 is sent', async () => {
    const r = await relay({ smtputf8: false });
    const dir = tmp();
    const config = makeConfig(dir, { main: relaySettings(r, dir) });
    const id = await queue(config, ['user@exämple.org', 'josé@example.org', 'plain@example.org']);
    const { results } = await deliver(config, [id]);
    const o = results[0]!.outcomes;
    assert.equal(o.get('user@exämple.org')!.status, 'sent');
    assert.equal(o.get('plain@example.org')!.status, 'sent');
    assert.deepEqual([o.get('josé@example.org')!.status, o.get('josé@example.org')!.dsn], ['failed', '5.6.7']);
    assert.match(o.get('josé@example.org')!.reason, /does not offer SMTPUTF8, which the address <josé@example\.org> needs: its local part/);
    // The message, then the bounce for josé to the sender.
    assert.deepEqual(
      r.received.map((m) => m.mailFrom),
      ['sender@example.com', ''],
    );
    const rcpts = r.sessions.flatMap((s) => s.commands.filter((c) => /^RCPT TO:/i.test(c) && !c.includes('sender@example.com')));
    assert.deepEqual(
      rcpts.map((c) => /<(.*)>/.exec(c)![1]),
      ['user@xn--exmple-cua.org', 'plain@example.org'],
    );
    assert.ok(
      r.sessions.every((s) => s.commands.every((c) => /^[\x00-\x7f]*$/.test(c))),
      r.sessions.map((s) => s.commands.join(' | ')).join('\n'),
    );
  });
  it('a relay without SMTPUTF8 and a UTF-8 sender local part: every recipient fails with 5.6.7, nothing is sent', async () => {
    const r = await relay({ smtputf8: false });
    const dir = tmp();
    const config = makeConfig(dir, { main: relaySettings(r, dir) });
    const id = await queue(config, ['a@example.org', 'b@exämple.org'], { sender: 'josé@example.com' });
    const { results } = await deliver(config, [id]);
    for (const a of ['a@example.org', 'b@exämple.org']) assert.equal(results[0]!.outcomes.get(a)!.dsn, '5.6.7');
    assert.ok(!r.sessions.some((s) => s.commands.some((c) => /^(MAIL|RCPT)/i.test(c))));
  });
  it('a relay that offers SMTPUTF8 gets the addresses as they are, with SMTPUTF8', async () => {
    const r = await relay();
    const dir = tmp();
    const config = makeConfig(dir, { main: relaySettings(r, dir) });
    const id = await queue(config, ['josé@exämple.org']);
    await deliver(config, [id]);
    assert.deepEqual(r.received[0]!.rcptTo, ['josé@exämple.org']);
    assert.equal(r.received[0]!.smtpUtf8, true);
  });
});

describe('engine: TLS failure wording', () => {
  it('a TLS alert from the server says so, with a hint, and names host[ip]:port', async () => {
    // A "server" that answers any ClientHello with a fatal internal_error alert (80).
    const srv = net.createServer((c) => {
      c.on('error', () => {});
      c.once('data', () => c.end(Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50])));
    });
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
    cleanups.push(() => new Promise<void>((res) => srv.close(() => res())));
    const port = (srv.address() as net.AddressInfo).port;
    const dir = tmp();
    const config = makeConfig(dir, { main: { name: 'main', url: `smtps://127.0.0.1:${port}` } });
    const id = await queue(config, ['a@example.com']);
    const { results } = await deliver(config, [id]);
    const o = results[0]!.outcomes.get('a@example.com')!;
    assert.equal(o.status, 'deferred');
    assert.equal(o.reason, `TLS handshake with 127.0.0.1[127.0.0.1]:${port} failed: the server sent alert 80 (internal_error)`);
    assert.match(o.fix!, /on the relay's side/);
  });
  it('a certificate for another host, relay given by IP: names what the certificate holds; relay=host[ip]:port', async () => {
    const r = await relay({ cert: 'wronghost', secure: true });
    const dir = tmp();
    const config = makeConfig(dir, { main: relaySettings(r, dir, { url: `smtps://outbox@127.0.0.1:${r.port}` }) });
    const id = await queue(config, ['a@example.com']);
    const { results, log } = await deliver(config, [id]);
    const o = results[0]!.outcomes.get('a@example.com')!;
    assert.equal(
      o.reason,
      `TLS with 127.0.0.1[127.0.0.1]:${r.port} failed: the certificate is for another host: it names DNS:wrong.example, the relay URL says 127.0.0.1`,
    );
    assert.ok(
      log.lines.some((l) => l.includes(`relay=127.0.0.1[127.0.0.1]:${r.port},`)),
      log.lines.join('\n'),
    );
  });
});

describe('engine: sending limits (issue 14 §2), with a moved clock', () => {
  const DAY = 86_400_000;
  const queued = (config: Config, ids: string[]) => ids.filter((id) => fs.existsSync(path.join(config.spool, 'ctl', id)));
  const queueMany = async (config: Config, n: number) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(await queue(config, [`r${i}@example.com`]));
    return ids;
  };

  it('daily_messages = 10 delivers 10 of 15, keeps 5 queued with the reason across a restart, and delivers them when the window rolls', async () => {
    const r = await relay();
    const dir = tmp();
    const config = makeConfig(dir, { main: relaySettings(r, dir, { dailyMessages: 10 }) });
    const p = ensureSpool(config.spool);
    const ids = await queueMany(config, 15);
    let clock = Date.now();
    const now = () => clock;
    const { log } = await deliver(config, ids, captureLog(), 2, now);
    assert.equal(r.received.length, 10);
    const left = queued(config, ids);
    assert.equal(left.length, 5);
    for (const id of left) {
      const rec = await readControl(p, id);
      assert.match(rec.recipients[0]!.reason ?? '', /^daily quota: 10 of 10 messages in 24 h sent through relay main; due at \d{4}-/);
      assert.ok(rec.nextAttempt > clock + DAY - 60_000 && rec.nextAttempt <= clock + DAY, `due ${rec.nextAttempt - clock} ms on`);
      assert.equal(rec.recipients[0]!.status, 'deferred');
    }
    assert.equal(log.lines.filter((l) => /status=deferred \(daily quota: 10 of 10 messages/.test(l)).length, 5, log.lines.join('\n'));

    // A restart an hour later (a new engine, as another process: the counts are in the spool),
    // even forced: nothing more goes.
    clock += 3600_000;
    await deliver(config, left, captureLog(), 2, now);
    assert.equal(r.received.length, 10);
    assert.equal(queued(config, ids).length, 5);

    // The window rolls: the 5 go.
    clock += DAY;
    await deliver(config, left, captureLog(), 2, now);
    assert.equal(r.received.length, 15);
    assert.equal(queued(config, ids).length, 0);
  });

  it('stopping while messages wait for their rate slot sends none of them early', async () => {
    const r = await relay();
    const dir = tmp();
    const config = makeConfig(dir, { main: relaySettings(r, dir, { rate: '12/min' }) });
    const ids = await queueMany(config, 4);
    const engine = new Engine({ config, paths: ensureSpool(config.spool), log: captureLog(), env: {}, slots: 4, idleMs: 0, relayDownMs: 60_000 });
    for (const id of ids) engine.enqueue(id, true);
    await r.waitFor(1, 10_000);
    // A grace long enough for the first to be recorded; the waiting ones are woken at once.
    await engine.stop(20_000);
    // The others had turns 5, 10 and 15 s on: none went early, all wait in the queue.
    assert.equal(r.mailFromTimes.length, 1);
    const left = queued(config, ids);
    assert.equal(left.length, 3);
    for (const id of left)
      assert.match(
        (await readControl(ensureSpool(config.spool), id)).recipients[0]!.reason ?? '',
        /^rate limit: relay main allows 12\/min; delivery interrupted/,
      );
  });

  it('daily_recipients counts recipients; a refused message is not counted', async () => {
    const r = await relay({ faults: { rcpt: { 'no@example.com': '550 5.1.1 No such user' } } });
    const dir = tmp();
    const config = makeConfig(dir, { main: relaySettings(r, dir, { dailyRecipients: 4 }) });
    const clock = Date.now();
    const refused = await queue(config, ['no@example.com']);
    await deliver(config, [refused], captureLog(), 1, () => clock);
    const ids = [await queue(config, ['a@example.com', 'b@example.com', 'c@example.com']), await queue(config, ['d@example.com', 'e@example.com'])];
    // Counted so far: the bounce about it (1 recipient), not the refused message itself.
    assert.equal(r.received.length, 1);
    assert.equal(r.received[0]!.mailFrom, '');
    await deliver(config, ids, captureLog(), 1, () => clock);
    assert.equal(r.received.length, 2, 'the bounce and the message of 3 recipients: 4 of 4');
    const left = queued(config, ids);
    assert.equal(left.length, 1);
    assert.match((await readControl(ensureSpool(config.spool), left[0]!)).recipients[0]!.reason ?? '', /^daily quota: 4 of 4 recipients in 24 h/);
  });

  it('a quota reply pauses the relay for every runner: one attempt, the other queued messages wait for the pause', async () => {
    const r = await relay({ faults: { mailFrom: '550 5.4.5 Daily user sending quota exceeded' } });
    const dir = tmp();
    const config = makeConfig(dir, { main: relaySettings(r, dir) });
    const p = ensureSpool(config.spool);
    const ids = await queueMany(config, 8);
    let clock = Date.now();
    const now = () => clock;
    const { log } = await deliver(config, ids, captureLog(), 4, now);
    // At most the connections open at once (slow start: 2) met the reply; then the relay paused.
    assert.ok(r.mailFromTimes.length >= 1 && r.mailFromTimes.length <= 2, `${r.mailFromTimes.length} attempts`);
    assert.equal(queued(config, ids).length, 8, 'nothing failed or bounced');
    const state = JSON.parse(fs.readFileSync(path.join(config.spool, 'run', 'limits', 'main.json'), 'utf8'));
    assert.equal(state.pause.count, 1);
    assert.ok(state.pause.until >= clock + 3600_000 && state.pause.until <= clock + 3600_000 + 60_000);
    let paused = 0;
    for (const id of ids) {
      const rec = await readControl(p, id);
      assert.equal(rec.nextAttempt, state.pause.until, 'every message waits for the end of the pause');
      if (/^relay main paused after a quota reply \(.*5\.4\.5.*\); due at /.test(rec.recipients[0]!.reason ?? '')) paused++;
    }
    assert.ok(paused >= 6, log.lines.join('\n'));

    // Another runner (a new engine), forced: still paused, no attempt.
    await deliver(config, ids, captureLog(), 4, now);
    assert.ok(r.mailFromTimes.length <= 2);

    // The pause ends and the quota is back: all 8 go, and the backoff starts over.
    r.setFaults({});
    clock = state.pause.until + 1000;
    await deliver(config, ids, captureLog(), 4, now);
    assert.equal(r.received.length, 8);
    assert.equal(JSON.parse(fs.readFileSync(path.join(config.spool, 'run', 'limits', 'main.json'), 'utf8')).pause, undefined);
  });
});
