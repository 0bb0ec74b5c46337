/**
 * queue/mailq.ts — `mailq` / `sendmail -bp`: the queue listing, in Postfix's layout.
 *
 *   -Queue ID-   --Size-- ----Arrival Time---- -Sender/Recipient-------
 *   1M814N5E8KZM*     412 Tue Mar  5 10:21:33  root@host.example.com
 *                 (connect to smtp.example.com[192.0.2.25]:587: Connection refused)
 *                                              admin@example.com
 *
 *   Problems:
 *     1 deferred: connect to smtp.example.com[192.0.2.25]:587: Connection refused
 *
 *   -- 1 Kbytes in 1 Request.
 *
 * The "Problems:" block groups stuck mail by cause (queue/problems.ts); it comes before the
 * total line, so that `mailq | tail -n 1` still gives the total as with Postfix.
 * `*` after the id: being delivered (locked); `!`: on hold. Only undelivered recipients are
 * listed, each group under its last error. `--json` prints one JSON object per message per line,
 * with postqueue -j's field names, plus `problem` ({kind, cause, fix}) for a stuck message (the
 * summary's grouping key; every line stays one message, as postqueue -j consumers expect), and
 * `limit` ({kind: daily_quota | rate_limit | paused, relay, due}) for mail a sending limit keeps. Never reads message bodies; never loads the SMTP client.
 * Root and the spool's owner see every message; on the system spool anyone else sees only their
 * own (queue/access.ts), and since they cannot read the queue, their mailq asks the daemon
 * (main.ts decides; queue/query-client.ts asks; queue/query.ts answers with this listing).
 * Messages still in incoming/ (no daemon has picked them up yet) are listed after the queue,
 * with the reason "waiting in incoming/" (queue/drops.ts; JSON queue_name "maildrop").
 */
import type { Config } from '../config/config.js';
import { type ControlRecord, pendingRecipients } from '../spool/format.js';
import { controlReader, listIds, lockedIds, spoolOwner, spoolPaths } from '../spool/spool.js';
import { visibleTo } from './access.js';
import { pendingDrops } from './drops.js';
import { ProblemSummary, formatSummary, problemOf, withFix } from './problems.js';

export const MAILQ_HEADER = '-Queue ID-   --Size-- ----Arrival Time---- -Sender/Recipient-------';
const RCPT_INDENT = ' '.repeat(43);
const REASON_INDENT = ' '.repeat(14);

/** asctime(3)-style "Tue Mar  5 10:21:33", local time. */
export function arrivalTime(ms: number): string {
  const d = new Date(ms);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getDay()]} ${months[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export interface ListedMessage {
  rec: ControlRecord;
  active: boolean;
  /** Still in incoming/, not yet picked up into the queue (queue/drops.ts). */
  dropped?: boolean;
}

const DROPPED_REASON = 'waiting in incoming/ to be picked up: by the queue daemon, or the next queue run (sendmail -q)';

/** One message's lines in the text listing (ending with an empty line). */
export function formatEntry({ rec, active, dropped }: ListedMessage, now = Date.now()): string {
  const mark = active ? '*' : rec.hold ? '!' : ' ';
  let out = `${(rec.id + mark).padEnd(13)} ${String(rec.size).padStart(7)} ${arrivalTime(rec.arrival).padEnd(20)} ${rec.sender || 'MAILER-DAEMON'}\n`;
  if (dropped) out += `${REASON_INDENT}(${DROPPED_REASON})\n`;
  let lastReason: string | undefined;
  for (const r of pendingRecipients(rec)) {
    let reason = r.reason !== undefined ? withFix(r.reason, r.fix) : r.status === 'deferred' ? rec.lastError : undefined;
    if (reason !== undefined && rec.nextAttempt > now) reason += `; next attempt ${arrivalTime(rec.nextAttempt).slice(4)}`;
    if (reason !== undefined && reason !== lastReason) out += `${REASON_INDENT}(${reason})\n`;
    lastReason = reason;
    out += `${RCPT_INDENT}${r.address}\n`;
  }
  return out + '\n';
}

/** The total line; the size rounds up as Postfix's postqueue does (one 218-byte message: 1 Kbytes). */
export function formatTotal(totalBytes: number, count: number): string {
  return `-- ${Math.ceil(totalBytes / 1024)} Kbytes in ${count} Request${count === 1 ? '' : 's'}.\n`;
}

/**
 * A message kept by a relay's sending limits (runner/limits.ts wrote its reason): which limit,
 * which relay, due when (seconds). Pure; for `mailq --json`.
 */
export function limitOf(rec: ControlRecord): { kind: 'daily_quota' | 'rate_limit' | 'paused'; relay: string; due: number | null } | undefined {
  for (const r of pendingRecipients(rec)) {
    const m =
      /^(daily quota|rate limit): .*?\brelay ([A-Za-z0-9_-]+)\b/.exec(r.reason ?? '') ??
      /^relay ([A-Za-z0-9_-]+) (paused) after a quota reply/.exec(r.reason ?? '');
    if (!m) continue;
    const kind = m[2] === 'paused' ? 'paused' : m[1] === 'daily quota' ? 'daily_quota' : 'rate_limit';
    return { kind, relay: m[2] === 'paused' ? m[1]! : m[2]!, due: rec.nextAttempt ? Math.floor(rec.nextAttempt / 1000) : null };
  }
  return undefined;
}

/** postqueue -j's object for one message. */
export function jsonEntry({ rec, active, dropped }: ListedMessage): string {
  const problem = problemOf(rec);
  const limit = limitOf(rec);
  return JSON.stringify({
    queue_name: dropped ? 'maildrop' : rec.hold ? 'hold' : active ? 'active' : rec.attempts > 0 ? 'deferred' : 'incoming',
    queue_id: rec.id,
    arrival_time: Math.floor(rec.arrival / 1000),
    message_size: rec.size,
    forced_expire: false,
    sender: rec.sender,
    recipients: pendingRecipients(rec).map((r) => ({
      address: r.address,
      ...(r.reason ? { delay_reason: withFix(r.reason, r.fix) } : {}),
    })),
    attempts: rec.attempts,
    next_attempt: rec.nextAttempt ? Math.floor(rec.nextAttempt / 1000) : null,
    ...(problem ? { problem } : {}),
    ...(limit ? { limit } : {}),
  });
}

/** The entry of a record we may not read (another user's, e.g. root's): it would never be delivered. Pure. */
export function formatUnreadable(id: string): string {
  return `${(id + '!').padEnd(13)} ${'?'.padStart(7)} ${'?'.padEnd(20)} ?\n${REASON_INDENT}(control record unreadable by the runner: permission denied; run "sudo sendmail -q" once to give it back to the spool owner)\n\n`;
}

/**
 * Write the listing of what `uid` may see to `out`, read from the spool (the caller decided that
 * it can: queue/access.ts mustAskDaemon; the daemon answering a query calls this too). Returns the
 * number of messages listed.
 * Scale (scripts/bench-queue): one readdir of ctl/ (names only: about 50 bytes per message), then
 * one small synchronous read per control record, written out in 8 KB pieces (bigger pieces live
 * long enough to be promoted, and RSS grows with them); message bodies are never opened.
 */
export async function listQueue(config: Config, opts: { json: boolean; uid: number; out: NodeJS.WritableStream }): Promise<number> {
  const owner = spoolOwner(config.spool);
  const p = spoolPaths(config.spool);
  const ids = await listIds(p);
  const locked = await lockedIds(p);
  const now = Date.now();
  const read = controlReader(p);
  let count = 0;
  let total = 0;
  let buf = '';
  const problems = new ProblemSummary();
  const flush = async () => {
    // Respect back-pressure when stdout is asynchronous (e.g. a socket), so memory stays bounded.
    if (buf && !opts.out.write(buf)) await new Promise((r) => opts.out.once('drain', r));
    buf = '';
  };
  const emit = async (entry: ListedMessage) => {
    if (opts.json) buf += jsonEntry(entry) + '\n';
    else {
      if (count === 0) buf += MAILQ_HEADER + '\n';
      buf += formatEntry(entry, now);
    }
    count++;
    total += entry.rec.size;
    if (buf.length > 8192) await flush();
  };
  for (const id of ids) {
    const rec = read(id);
    if (rec === 'gone' || rec === 'corrupt') continue; // delivered meanwhile; or not ours to show
    if (rec === 'denied') {
      // Said to whoever may see every message (whose it is cannot be known without reading it).
      if (!opts.json && visibleTo({ uid: -1 } as ControlRecord, opts.uid, config, owner)) {
        if (count === 0) buf += MAILQ_HEADER + '\n';
        buf += formatUnreadable(id);
        count++;
      }
      continue;
    }
    if (!visibleTo(rec, opts.uid, config, owner)) continue;
    if (pendingRecipients(rec).length === 0) continue;
    if (!opts.json) problems.add(rec); // the summary; JSON entries carry their own problem
    await emit({ rec, active: locked.has(id) });
  }
  // Mail committed into incoming/ but not picked up yet (no daemon): listed too, after the queue.
  if (config.system)
    for (const rec of await pendingDrops(config)) if (visibleTo(rec, opts.uid, config, owner)) await emit({ rec, active: false, dropped: true });
  if (!opts.json) buf += count === 0 ? 'Mail queue is empty\n' : formatSummary(problems.groups()) + formatTotal(total, count);
  await flush();
  return count;
}
