/**
 * Mail held for a configuration problem of this host, in-process against the scripted relay
 * (issue 10 §2, issue 15 items 10 and 21): a refused sender is held (never bounced) with one
 * loud notice per cause, and the next run after the fix delivers it without a manual release,
 * requalified with the new domain; held time does not count towards max_queue_lifetime; quota
 * replies wait longer; an undeliverable bounce goes to the postmaster once, else it is held;
 * a hold route says which route holds the message.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { relaysForFile, type TestRelay } from '../../helpers/relay.js';
import { loadConfig, type Config } from '../../../src/config/config.js';
import type { RelaySettings } from '../../../src/config/types.js';
import { Engine, type MessageResult } from '../../../src/runner/engine.js';
import { relaysFor } from '../../../src/relay/env.js';
import type { Log } from '../../../src/log/log.js';
import { submit } from '../../../src/submit/submit.js';
import { ensureSpool, readControl, writeControl } from '../../../src/spool/spool.js';
import { QUOTA_WAIT_MS } from '../../../src/runner/schedule.js';

const relay = relaysForFile(after);
const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A spool and a config for relay `r` on host "vm" (no dot), as the first-contact report had it. */
function setup(r: TestRelay, more: Partial<Config> = {}): Config {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-holds-'));
  dirs.push(dir);
  const pw = path.join(dir, 'pw');
  fs.writeFileSync(pw, 'secret\n', { mode: 0o600 });
  const main: RelaySettings = { name: 'env', url: r.url(), passwordFile: pw, caFile: r.caFile };
  // Our own aliases file: never the machine's /etc/aliases (its postmaster alias would change the tests).
  const aliases = path.join(dir, 'aliases');
  fs.writeFileSync(aliases, '# none\n');
  const base = loadConfig({ env: { OUTBOX_SPOOL: path.join(dir, 'spool') }, uid: 1000, home: dir });
  return relaysFor({ ...base, hostname: 'vm', domain: 'vm', aliasesFile: aliases, relays: { env: main }, lockStaleMs: 2000, ...more }, {});
}

type Line = { id: string | null; text: string; level: string };
function captureLog(): Log & { lines: Line[] } {
  const lines: Line[] = [];
  return { target: 'none', lines, line: (id, text, level = 'info') => void lines.push({ id, text, level }), close: async () => {} };
}

async function queue(config: Config, rcpts: string[], sender = 'outboxtest@vm'): Promise<string> {
  const r = await submit({
    config,
    submitter: { uid: 1000, name: 'outboxtest' },
    sender,
    recipients: rcpts,
    extractRecipients: false,
    ignoreDots: true,
    dsn: {},
    origin: 'sendmail',
    received: (id) => `by test id ${id}`,
    input: (async function* () {
      yield Buffer.from(`From: ${sender || 'MAILER-DAEMON@vm'}\nSubject: holds\n\nbody\n`);
    })(),
  });
  return r.id;
}

async function run(config: Config, ids: string[], opts: { force?: boolean; env?: NodeJS.ProcessEnv; log?: ReturnType<typeof captureLog> } = {}) {
  const log = opts.log ?? captureLog();
  const engine = new Engine({ config, paths: ensureSpool(config.spool), log, env: opts.env ?? {}, slots: 2, idleMs: 0, relayDownMs: 60_000 });
  const results: MessageResult[] = [];
  engine.onResult = (r) => {
    results.push(r);
    for (const b of r.bounceIds) engine.enqueue(b, true);
  };
  for (const id of ids) engine.enqueue(id, opts.force ?? true);
  await engine.idle();
  await engine.stop(0);
  return { results, log };
}

const REFUSAL = '504 5.5.2 <outboxtest@vm>: Sender address rejected: need fully-qualified address';

describe('a refused sender is held, never bounced', () => {
  it('held with one notice for many messages; after the fix one run delivers each once, requalified', async () => {
    const r = await relay();
    const rcpts = ['a@example.com', 'b@example.com', 'c@example.com'];
    r.setFaults({ rcpt: Object.fromEntries(rcpts.map((a) => [a, REFUSAL])) });
    const config = setup(r);
    const p = ensureSpool(config.spool);
    const ids = [];
    for (const a of rcpts) ids.push(await queue(config, [a]));
    const first = await run(config, ids);
    assert.equal(r.received.length, 0, 'nothing bounced to the refused address');
    for (const res of first.results) assert.equal([...res.outcomes.values()][0]!.status, 'deferred');
    const notices = first.log.lines.filter((l) => l.level === 'error');
    assert.equal(notices.length, 1, `one loud notice for three messages:\n${first.log.lines.map((l) => l.text).join('\n')}`);
    assert.match(
      notices[0]!.text,
      /^configuration problem, the message stays queued and is not bounced: relay env refuses the sender <outboxtest@vm>: set domain \(or OUTBOX_DOMAIN\) \(one notice for all/,
    );
    const held = await readControl(p, ids[0]!);
    assert.equal(held.hold, false, 'no manual release needed');
    assert.ok(held.configSince && held.configTag && held.nextAttempt > Date.now());
    assert.deepEqual([held.recipients[0]!.cause, held.recipients[0]!.fix], ['relay env refuses the sender <outboxtest@vm>', 'set domain (or OUTBOX_DOMAIN)']);

    // Not due yet under the same configuration: an ordinary (unforced) run leaves them alone.
    const same = await run(config, ids, { force: false });
    assert.ok(same.results.every((x) => x.state === 'not-due'));

    // The fix: a domain. The configuration changed, so they are due now (unforced run).
    r.setFaults({});
    const fixed = { ...config, domain: 'harness.test' };
    const second = await run(fixed, ids, { force: false });
    assert.ok(
      second.results.every((x) => x.state === 'done' && x.remaining === 0),
      JSON.stringify(second.results.map((x) => x.state)),
    );
    assert.equal(r.received.length, 3, 'each delivered once');
    for (const m of r.received) {
      assert.equal(m.mailFrom, 'outboxtest@harness.test');
      assert.match(m.data.toString(), /^From: outboxtest@harness\.test$/m);
    }
  });
});

describe('queue lifetime and configuration holds', () => {
  it('no delay warning while a configuration problem holds the message (it would go the same way)', async () => {
    const r = await relay({ faults: { authReply: '535 5.7.8 Authentication failed' } });
    const config = setup(r, { deliverySettings: { delayWarningMs: 1 } });
    const id = await queue(config, ['a@example.com'], 'app@example.com');
    await new Promise((res) => setTimeout(res, 5));
    const { results } = await run(config, [id]);
    assert.deepEqual(
      results.map((x) => x.bounceIds.length),
      [0],
    );
    assert.equal((await readControl(ensureSpool(config.spool), id)).warned, undefined);
  });

  it('time held for a wrong password does not count: the first ordinary failure after the fix does not expire it', async () => {
    const r = await relay({ faults: { authReply: '535 5.7.8 Authentication failed' } });
    const config = setup(r, { deliverySettings: { maxQueueLifetimeMs: 60_000 } });
    const p = ensureSpool(config.spool);
    const id = await queue(config, ['later@example.com'], 'app@example.com');
    await run(config, [id]);
    // As if it had waited 1000 s behind the wrong password.
    const rec = await readControl(p, id);
    assert.ok(rec.configSince !== undefined);
    await writeControl(p, { ...rec, arrival: rec.arrival - 1_000_000, configSince: rec.configSince! - 999_000 });
    r.setFaults({ rcpt: { 'later@example.com': '451 4.3.0 Try later' } });
    const { results } = await run(config, [id]);
    assert.equal(results[0]!.outcomes.get('later@example.com')!.status, 'deferred', 'not expired');
    assert.equal(r.received.length, 0, 'no bounce');
    const after2 = await readControl(p, id);
    assert.equal(after2.configSince, undefined);
    assert.ok(after2.configMs! >= 999_000);

    // The same message without the held time is expired (the rule above is what saves it).
    await writeControl(p, { ...after2, configMs: 0 });
    const third = await run(config, [id]);
    assert.equal(third.results[0]!.outcomes.get('later@example.com')!.status, 'failed');
  });

  it('a quota reply (5xx) is retried after an hour, never bounced', async () => {
    const r = await relay({ faults: { rcpt: { 'q@example.com': '550 5.4.5 Daily user sending quota exceeded.' } } });
    const config = setup(r);
    const id = await queue(config, ['q@example.com'], 'app@example.com');
    const t0 = Date.now();
    const { results } = await run(config, [id]);
    assert.equal(results[0]!.outcomes.get('q@example.com')!.status, 'deferred');
    assert.equal(r.received.length, 0);
    assert.ok((await readControl(ensureSpool(config.spool), id)).nextAttempt >= t0 + QUOTA_WAIT_MS);
  });
});

describe('bounce hygiene', () => {
  it('an undeliverable bounce goes to the postmaster once; the postmaster failing too holds it, no loop', async () => {
    const r = await relay({ faults: { rcpt: { 'gone@example.com': '550 5.1.1 No such user' } } });
    const config = setup(r);
    const p = ensureSpool(config.spool);
    const id = await queue(config, ['gone@example.com'], '');
    const env = { OUTBOX_POSTMASTER: 'pm@example.com' };
    const first = await run(config, [id], { env });
    assert.equal(r.received.length, 1);
    assert.equal(r.received[0]!.mailFrom, '', 'still the null sender');
    assert.deepEqual(r.received[0]!.rcptTo, ['pm@example.com']);
    assert.ok(first.results.some((x) => x.id === id && x.remaining === 0));

    r.setFaults({ rcpt: { 'gone@example.com': '550 5.1.1 No such user', 'pm@example.com': '550 5.1.1 No such user' } });
    const id2 = await queue(config, ['gone@example.com'], '');
    const second = await run(config, [id2], { env });
    assert.equal(r.received.length, 1, 'nothing more was sent');
    const rec = await readControl(p, id2);
    assert.equal(rec.hold, true, 'held and reported');
    assert.equal(rec.postmaster, 'pm@example.com');
    assert.ok(second.log.lines.some((l) => /could not take it either/.test(l.text)));

    // Without a postmaster address: held at once.
    const id3 = await queue(config, ['gone@example.com'], '');
    const third = await run(config, [id3]);
    assert.equal((await readControl(p, id3)).hold, true);
    assert.ok(third.log.lines.some((l) => /set postmaster \(or OUTBOX_POSTMASTER\)/.test(l.text)));
    assert.equal(r.received.length, 1);

    // Debian's stock "postmaster: root" leads nowhere off this host: still held.
    fs.writeFileSync(`${config.aliasesFile}1`, 'postmaster: root\n');
    const stock = { ...config, aliasesFile: `${config.aliasesFile}1` };
    const id5 = await queue(stock, ['gone@example.com'], '');
    await run(stock, [id5]);
    assert.equal((await readControl(p, id5)).hold, true);
    assert.equal(r.received.length, 1);

    // A postmaster alias in the aliases file that leads off this host is used when nothing is set.
    fs.writeFileSync(config.aliasesFile!, 'postmaster: root\nroot: ops@example.com\n');
    const withAlias = { ...config, aliasesFile: `${config.aliasesFile}2` };
    fs.copyFileSync(config.aliasesFile!, withAlias.aliasesFile);
    const id4 = await queue(withAlias, ['gone@example.com'], '');
    await run(withAlias, [id4]);
    assert.equal(r.received.length, 2);
    assert.deepEqual(r.received[1]!.rcptTo, ['ops@example.com']);
  });
});

describe('hold routes say why', () => {
  it('"held by route N (file:line)" in the record and the result', async () => {
    const r = await relay();
    const config = setup(r, {
      file: '/etc/outbox/outbox.conf',
      routes: [
        { recipientDomain: 'other.example', relay: 'env', line: 9 },
        { recipientDomain: 'frozen.example', relay: 'hold', line: 12 },
      ],
    });
    const id = await queue(config, ['z@frozen.example'], 'app@example.com');
    const { results } = await run(config, [id]);
    assert.equal(results[0]!.state, 'held');
    assert.equal(results[0]!.heldReason, 'held by route 2 (/etc/outbox/outbox.conf:12): relay = "hold"');
    const rec = await readControl(ensureSpool(config.spool), id);
    assert.equal(rec.recipients[0]!.reason, 'held by route 2 (/etc/outbox/outbox.conf:12): relay = "hold"');
    assert.equal(r.received.length, 0);
  });
});
