/**
 * Unit tests of queue/drops.ts: mailq lists a waiting drop entry exactly when pickup's own reader
 * (spool/drop-read.ts) would take it, with the owner and size from the files, never the JSON.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { pendingDrops } from '../../../src/queue/drops.js';

const R = (c: string) => c.repeat(32);

test('pendingDrops lists what pickup would take: not a hard-linked, oversized, FIFO or symlinked entry', async () => {
  const spool = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-drops-'));
  try {
    const dir = path.join(spool, 'incoming');
    fs.mkdirSync(dir);
    const plant = (id: string, r: string, body = 'Subject: x\n\nhi\n') => {
      const env = { v: 1, id, arrival: 1_800_000_000_000, sender: 'a@example.com', recipients: [{ address: 'b@example.com' }], uid: 0, size: 1 };
      fs.writeFileSync(path.join(dir, `${id}.${r}`), body);
      fs.writeFileSync(path.join(dir, `${id}.${r}.env`), JSON.stringify(env));
    };
    plant('1M8000000001', R('a'));
    // A message file with a second link (pickup refuses it: the submitter could change it later).
    plant('1M8000000002', R('b'));
    fs.linkSync(path.join(dir, `1M8000000002.${R('b')}`), path.join(spool, 'elsewhere'));
    // Over max_message_size.
    plant('1M8000000003', R('c'), 'Subject: x\n\n' + 'y'.repeat(200) + '\n');
    // A FIFO posing as an envelope: never opened (an open would block without O_NONBLOCK).
    fs.writeFileSync(path.join(dir, `1M8000000004.${R('d')}`), 'x\n');
    execFileSync('mkfifo', [path.join(dir, `1M8000000004.${R('d')}.env`)]);
    // A symbolic link posing as an envelope.
    fs.writeFileSync(path.join(dir, `1M8000000005.${R('e')}`), 'x\n');
    fs.symlinkSync(path.join(dir, `1M8000000001.${R('a')}.env`), path.join(dir, `1M8000000005.${R('e')}.env`));

    const recs = await pendingDrops({ spool, maxMessageSize: 100 });
    assert.deepEqual(
      recs.map((r) => r.id),
      ['1M8000000001'],
    );
    const st = fs.statSync(path.join(dir, `1M8000000001.${R('a')}`));
    assert.equal(recs[0]!.uid, st.uid, "the owner is the file's");
    assert.equal(recs[0]!.size, st.size, "the size is the message file's");
    assert.deepEqual(await pendingDrops({ spool: path.join(spool, 'none'), maxMessageSize: 0 }), [], 'no incoming/: nothing');
  } finally {
    fs.rmSync(spool, { recursive: true, force: true });
  }
});
