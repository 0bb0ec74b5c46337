/**
 * test/helpers/queue-gen.ts — fill a spool with N committed messages quickly, for big-queue
 * tests and bench/queue.ts. Uses the spool's own layout and record format
 * (src/spool/format.ts, spool.ts) but writes without fsync: 100,000 fsyncs would take minutes
 * and durability is not what these runs measure. Never use this outside tests and benchmarks.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FORMAT_VERSION, makeQueueId, serializeControl, type ControlRecord } from '../../src/spool/format.js';
import { ensureSpool } from '../../src/spool/spool.js';

export interface GenOptions {
  /** Number of messages. */
  count: number;
  /** Recipients per message (default 1). */
  recipients?: number;
  /** Body size in bytes (default 300). */
  bodyBytes?: number;
  /** Arrival of the first message (ms); each next one arrives 1 ms later. Default: now - count. */
  start?: number;
  /** Fields to set on every record (attempts, nextAttempt, lastError, uid, hold, ...). */
  record?: Partial<ControlRecord>;
  /** Per-message fields, by index. */
  each?: (i: number) => Partial<ControlRecord>;
  /** Subject prefix; the subject is "<prefix> <i>" so a relay can tell messages apart. */
  subject?: string;
}

/** Write the messages; returns their ids in arrival order. */
export function generateQueue(spool: string, o: GenOptions): string[] {
  const p = ensureSpool(spool);
  const start = o.start ?? Date.now() - o.count;
  const nr = o.recipients ?? 1;
  const filler = 'x'.repeat(Math.max(0, (o.bodyBytes ?? 300) - 1)) + '\n';
  const ids: string[] = [];
  let seq = 0;
  for (let i = 0; i < o.count; i++) {
    const arrival = start + i;
    const id = makeQueueId(arrival, () => seq++ & 31);
    const text = `Message-ID: <${id}@gen.example>\nFrom: gen@example.com\nTo: rcpt@example.com\nSubject: ${o.subject ?? 'bulk'} ${i}\n\n${filler}`;
    fs.writeFileSync(path.join(p.msg, id), text, { mode: 0o600 });
    const rec: ControlRecord = {
      v: FORMAT_VERSION,
      id,
      arrival,
      uid: 0,
      user: 'root',
      sender: 'gen@example.com',
      recipients: Array.from({ length: nr }, (_, j) => ({ address: `r${j}.${i}@example.com`, status: 'pending' as const })),
      body: '7BIT',
      smtputf8: false,
      size: Buffer.byteLength(text),
      origin: 'sendmail',
      attempts: 0,
      nextAttempt: 0,
      hold: false,
      history: [{ time: arrival, event: 'queued', detail: `uid=0 from=<gen@example.com> nrcpt=${nr}` }],
      ...o.record,
      ...o.each?.(i),
    };
    // Same final state as writeControl (tmp file renamed into ctl/), minus the fsyncs.
    const tmp = path.join(p.tmp, `${id}.gen`);
    fs.writeFileSync(tmp, serializeControl(rec), { mode: 0o600 });
    fs.renameSync(tmp, path.join(p.ctl, id));
    ids.push(id);
  }
  return ids;
}
