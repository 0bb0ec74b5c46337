/**
 * runner/transaction.ts — one relay group of a message over an open session: its bytes (the
 * stored message, or its rewritten header section and the stored body), the envelope (SMTPUTF8
 * or A-labels: smtputf8.ts), one SMTP transaction per set of DSN parameters, and the outcome of
 * each recipient (classify.ts). Never throws: every failure is a recipient outcome.
 */
import { Readable } from 'node:stream';
import type { ControlRecord, RecipientState } from '../spool/format.js';
import { type Outcome, classify, sentOutcome } from './classify.js';
import { groupMessage, type StoredHeader } from '../plan/rewrite-stream.js';
import type { DeliveryGroup } from '../plan/rewrite.js';
import type { SendInfo, Session } from '../relay/session.js';
import type { SmtpError } from '../relay/errors.js';
import { asciiEnvelope, needsSmtpUtf8 } from './smtputf8.js';

/** One delivery group's message: its envelope sender and a fresh stream of its bytes per transaction. */
export interface GroupMessage {
  sender: string;
  /** RCPT TO for a queued recipient (plan/rewrite.ts requalifies local names without a dot). */
  recipientAs(queued: string): string;
  /** Local recipients with no domain to qualify them: a refusal is held as this host's setup problem. */
  unqualified: ReadonlySet<string>;
  open(): { stream: Readable; size: number };
}

/** A queued message as the attempt read it: small ones whole (`whole`), large ones streamed from `file`. */
export interface StoredMessage {
  file: string;
  whole: Buffer | undefined;
  stored: StoredHeader;
  size: number;
}

/** The bytes of a group: the stored message, or its rewritten header section and the stored body. */
export function groupMessageFor(m: StoredMessage, g: DeliveryGroup): GroupMessage {
  const { whole, stored } = m;
  return {
    sender: g.sender,
    recipientAs: (queued) => g.recipientsAs?.[queued] ?? queued,
    unqualified: new Set(g.unqualified ?? []),
    open() {
      if (whole) {
        const bytes = g.header === stored.text ? whole : Buffer.concat([Buffer.from(g.header + '\n', 'latin1'), whole.subarray(stored.bodyOffset)]);
        return { stream: Readable.from([bytes], { objectMode: false }), size: bytes.length };
      }
      return groupMessage(m.file, stored, g, m.size);
    },
  };
}

/**
 * Deliver one relay group over a session; returns outcomes per address, and `retry` when a
 * reused session turned out closed before anything was sent (the group may go again at once).
 */
export async function sendGroup(
  rec: ControlRecord,
  group: RecipientState[],
  session: Session,
  msg: GroupMessage,
  relay: string,
): Promise<{ out: Map<string, Outcome>; retry: boolean }> {
  const out = new Map<string, Outcome>();
  const ctx = { relay, sender: msg.sender, unqualified: msg.unqualified };
  let retry = false;
  // DSN parameters are per envelope in nodemailer: recipients with different NOTIFY/ORCPT go
  // in separate transactions, only when the relay offers DSN (else one transaction for all).
  const batches = new Map<string, RecipientState[]>();
  for (const r of group) {
    const key = session.supportsDsn ? `${(r.notify ?? []).join(',')}|${r.orcpt ?? ''}` : '';
    const b = batches.get(key) ?? [];
    b.push(r);
    batches.set(key, b);
  }
  for (const batch of batches.values()) {
    const first = batch[0]!;
    const dsn = session.supportsDsn
      ? {
          ...(rec.ret ? { ret: rec.ret } : {}),
          ...(rec.envid ? { envid: rec.envid } : {}),
          ...(first.notify ? { notify: first.notify } : {}),
          ...(first.orcpt ? { orcpt: first.orcpt } : {}),
        }
      : undefined;
    // A relay without SMTPUTF8 gets A-label domains; a UTF-8 local part is refused here (5.6.7).
    let from = msg.sender;
    let to = batch.map((r) => msg.recipientAs(r.address));
    const queuedAs = new Map<string, string>();
    for (const r of batch) if (msg.recipientAs(r.address) !== r.address) queuedAs.set(msg.recipientAs(r.address), r.address);
    const queued = (addr: string) => queuedAs.get(addr) ?? addr;
    if (!session.supportsSmtpUtf8 && (rec.smtputf8 || needsSmtpUtf8(from, to))) {
      const a = asciiEnvelope(from, to, session.peer);
      for (const [addr, o] of a.refused) out.set(queued(addr), o);
      if (a.sender === undefined || a.to.length === 0) continue;
      from = a.sender;
      to = a.to.map(([wire]) => wire);
      for (const [wire, before] of a.to) queuedAs.set(wire, queued(before));
    }
    const { stream, size } = msg.open();
    const envelope = { from, to, size, use8BitMime: rec.body === '8BITMIME', ...(dsn ? { dsn } : {}) };
    let info: SendInfo | undefined;
    let error: SmtpError | undefined;
    try {
      info = await session.send(envelope, stream);
    } catch (e) {
      error = e as SmtpError;
    } finally {
      stream.destroy();
    }
    if (info) {
      for (const re of info.rejectedErrors) if (re.recipient) out.set(queued(re.recipient), classify(re, session.peer, ctx));
      const ok = sentOutcome(session.peer, info.response);
      for (const a of info.accepted) out.set(queued(a), ok);
    } else if (error) {
      // A reused session the relay closed while idle: nothing of the message was sent, so it
      // may go again at once over a new session.
      if (!error.responseCode && session.messages > 1 && !stream.readableDidRead && batches.size === 1) retry = true;
      for (const re of error.rejectedErrors ?? []) if (re.recipient) out.set(queued(re.recipient), classify(re, session.peer, ctx));
      const o = classify(error, session.peer, ctx);
      for (const r of batch) if (!out.has(r.address)) out.set(r.address, o);
      if ((error.code === 'EENVELOPE' || error.code === 'EMESSAGE') && error.responseCode !== 421 && session.alive) {
        if (!(await session.reset())) session.close();
      } else if (!error.responseCode || error.responseCode === 421) session.close();
    }
    for (const r of batch)
      if (!out.has(r.address)) out.set(r.address, { status: 'deferred', dsn: '4.0.0', reason: `no reply for this recipient from ${session.peer}` });
  }
  return { out, retry };
}
