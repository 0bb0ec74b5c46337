/**
 * Load: 200 concurrent SMTP clients, each sending 10 messages over its own connection to
 * `outbox serve`. Every message must be committed exactly once (2000 control records, each
 * token in exactly one message, every reported queue id present), with no leftovers.
 * A longer version: bench/smtpin.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { controls, messageText, tempSpool } from '../helpers/run.js';
import { startServe } from '../helpers/serve.js';
import { runLoad } from '../helpers/smtp-load.js';

const CLIENTS = 200;
const MESSAGES = 10;

describe('outbox serve under load', () => {
  const s = tempSpool('outbox-load-');
  after(() => s.cleanup());

  it(`${CLIENTS} concurrent clients x ${MESSAGES} messages: each committed exactly once`, async () => {
    const srv = await startServe(['--listen', '127.0.0.1:0', '--max-clients', String(CLIENTS + 10)], s.env);
    try {
      const res = await runLoad(srv.ports[0]!, CLIENTS, MESSAGES);
      assert.deepEqual(res.errors, []);
      assert.equal(res.accepted.size, CLIENTS * MESSAGES);
      const recs = controls(s.spool);
      assert.equal(recs.length, CLIENTS * MESSAGES);
      const ids = new Set(recs.map((r) => r.id));
      for (const id of res.accepted.values()) assert.ok(ids.has(id), id);
      const seen = new Map<string, string>();
      for (const r of recs) {
        const token = /^X-Load-Token: (\S+)$/m.exec(messageText(s.spool, r.id))![1]!;
        assert.ok(!seen.has(token), `${token} stored twice`);
        seen.set(token, r.id);
        assert.equal(res.accepted.get(token), r.id);
      }
      assert.equal(fs.readdirSync(path.join(s.spool, 'msg')).length, CLIENTS * MESSAGES);
      assert.equal(srv.child.exitCode, null, 'the server is still running');
      process.stderr.write(`# load: ${CLIENTS * MESSAGES} messages from ${CLIENTS} clients in ${res.ms} ms\n`);
    } finally {
      assert.equal(await srv.stop(), 0);
    }
  });
});
