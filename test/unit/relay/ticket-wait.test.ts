/**
 * relay/ticket-wait.ts: after STARTTLS under TLS 1.3 the session's EHLO is written only once the
 * relay's session ticket has come in (so it acknowledges the ticket and the reply is not held by
 * Nagle + delayed ACK). Observed from a TCP proxy between Session.open and the scripted relay,
 * which reads the TLS record headers: when the relay's first bytes after the client's Finished
 * reach the proxy, the client must have sent its Finished and nothing more.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, it } from 'node:test';
import { startRelay } from '../../helpers/relay.js';
import { prepareRelay } from '../../../src/relay/prepare.js';
import { Session } from '../../../src/relay/session.js';
import { ticketWaitMs } from '../../../src/relay/ticket-wait.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A loopback proxy that counts the client's TLS application-data records after STARTTLS. */
async function recordingProxy(target: number) {
  const seen = { clientRecordsWhenRelaySpoke: -1 };
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    let plain = Buffer.alloc(0); // client -> relay bytes until the TLS records start
    let records = Buffer.alloc(0); // client -> relay bytes after "STARTTLS\r\n", not yet parsed
    let tlsStarted = false;
    let appRecords = 0; // client's TLS application-data records (type 23): Finished, then EHLO...
    client.on('data', (d) => {
      upstream.write(d);
      if (!tlsStarted) {
        plain = Buffer.concat([plain, d]);
        const at = plain.indexOf('STARTTLS\r\n');
        if (at < 0) return;
        tlsStarted = true;
        records = plain.subarray(at + 'STARTTLS\r\n'.length);
      } else records = Buffer.concat([records, d]);
      while (records.length >= 5 && records.length >= 5 + records.readUInt16BE(3)) {
        if (records[0] === 23) appRecords++;
        records = records.subarray(5 + records.readUInt16BE(3));
      }
    });
    upstream.on('data', (d) => {
      if (appRecords > 0 && seen.clientRecordsWhenRelaySpoke < 0) seen.clientRecordsWhenRelaySpoke = appRecords;
      client.write(d);
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as net.AddressInfo).port, seen };
}

it('under TLS 1.3 the EHLO after STARTTLS waits for the relay session ticket', async () => {
  const relay = await startRelay();
  cleanups.push(() => relay.close());
  const proxy = await recordingProxy(relay.port);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-ticket-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'pw'), 'secret\n', { mode: 0o600 });
  const url = relay.url().replace(`:${relay.port}`, `:${proxy.port}`);
  const prepared = await prepareRelay({ name: 'main', url, passwordFile: path.join(dir, 'pw'), caFile: relay.caFile }, {});
  const session = await Session.open(prepared, { ehloName: 'client.example.org' });
  session.close();
  assert.equal(relay.authAttempts, 1, 'the session went on to AUTH after the EHLO');
  // 1: only the client's Finished had gone out when the ticket came; 2 (Finished + EHLO) before.
  assert.equal(proxy.seen.clientRecordsWhenRelaySpoke, 1);
});

it('the wait for a ticket is the handshake time, at least 5 ms and at most 50 ms', () => {
  assert.equal(ticketWaitMs(0.4), 5);
  assert.equal(ticketWaitMs(12.2), 13);
  assert.equal(ticketWaitMs(400), 50);
});
