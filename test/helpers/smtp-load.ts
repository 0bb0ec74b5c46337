/**
 * test/helpers/smtp-load.ts — N concurrent SMTP clients, each sending M messages over one
 * connection (MAIL/RCPT/DATA pipelined), each message carrying a unique X-Load-Token header.
 * Used by test/e2e/smtp-load.test.ts (CI size) and bench/smtpin.ts (longer runs).
 */
import * as net from 'node:net';
import { Dialog } from './smtp-dialog.js';

export interface LoadResult {
  /** token -> queue id, for every message the server accepted. */
  accepted: Map<string, string>;
  /** failures, one line each */
  errors: string[];
  ms: number;
}

async function client(port: number, host: string, c: number, messages: number, out: LoadResult): Promise<void> {
  const sock = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ port, host }, () => resolve(s));
    s.once('error', reject);
  });
  const d = Dialog.ofSocket(sock, 60_000);
  try {
    await d.expect(220);
    await d.cmd(`EHLO load${c}.example`, 250);
    for (let m = 0; m < messages; m++) {
      const token = `c${c}-m${m}`;
      d.write(`MAIL FROM:<load${c}@example.com>\r\nRCPT TO:<sink${m}@example.net>\r\nDATA\r\n`);
      await d.expect(250);
      await d.expect(250);
      await d.expect(354);
      d.write(`Subject: load ${token}\r\nX-Load-Token: ${token}\r\n\r\nmessage ${token}\r\n..dot-stuffed\r\n${'x'.repeat(200)}\r\n.\r\n`);
      const r = await d.expect(250);
      const id = /queued as (\S+)/.exec(r.text)?.[1];
      if (!id) throw new Error(`no id in ${r.text}`);
      if (out.accepted.has(token)) throw new Error(`${token} accepted twice`);
      out.accepted.set(token, id);
    }
    await d.cmd('QUIT', 221);
  } finally {
    sock.destroy();
  }
}

export async function runLoad(port: number, clients: number, messages: number, host = '127.0.0.1'): Promise<LoadResult> {
  const out: LoadResult = { accepted: new Map(), errors: [], ms: 0 };
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: clients }, (_, c) => client(port, host, c, messages, out).catch((e: Error) => void out.errors.push(`client ${c}: ${e.message}`))),
  );
  out.ms = Date.now() - t0;
  return out;
}
