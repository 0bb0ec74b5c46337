/**
 * spool/envelope.ts — the re-validation of a drop envelope (incoming/<ID>.<R>.env, see
 * spool/drop.ts) before pickup (spool/pickup.ts) queues it. Pure.
 *
 * The submitter wrote the envelope, so nothing in it is trusted: every field is checked again
 * (addresses with message/address.ts, DSN fields with message/dsn.ts checkNotify, sizes) and only
 * known fields are kept. The uid and login name come from the caller (fstat and /etc/passwd),
 * the size from the message file; state fields (attempts, hold, history, ...) start fresh.
 */
import { checkAddress, isAscii } from '../message/address.js';
import { type ControlRecord, FORMAT_VERSION, type RecipientState, parseControl } from './format.js';
import { checkNotify } from '../message/dsn.js';
import { INCOMING, MAX_RECIPIENTS } from './drop.js';

const ORIGINS = new Set(['sendmail', 'smtp-stdio', 'smtp']);

export type EnvelopeCheck = { ok: true; rec: ControlRecord } | { ok: false; error: string };

function printable(s: unknown, max: number): s is string {
  return typeof s === 'string' && s.length <= max && !/[\x00-\x1f\x7f]/.test(s);
}

/**
 * Re-validate a dropped envelope. Pure. `owner` is the uid and name from fstat and
 * /etc/passwd; `size` the message file's fstat size. Returns a fresh control record holding
 * only known, checked fields (attempts, hold, history, ... are never taken from the submitter).
 */
export function validateEnvelope(
  text: string,
  expect: { id: string; uid: number; user: string; size: number; domain: string; now: number; drop: string },
): EnvelopeCheck {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { ok: false, error: 'envelope is not JSON' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, error: 'envelope is not an object' };
  let parsed: ControlRecord;
  try {
    parsed = parseControl(text);
  } catch (e) {
    return { ok: false, error: `envelope: ${(e as Error).message}` };
  }
  if (parsed.id !== expect.id) return { ok: false, error: `envelope id ${JSON.stringify(raw.id)} does not match the entry name` };
  if (typeof raw.size !== 'number' || raw.size !== expect.size) {
    return { ok: false, error: `envelope size ${JSON.stringify(raw.size)} does not match the message file (${expect.size} bytes)` };
  }
  let sender = '';
  if (parsed.sender !== '') {
    if (parsed.sender.length > 1000) return { ok: false, error: 'bad sender' };
    const c = checkAddress(parsed.sender, expect.domain);
    if (!c.ok) return { ok: false, error: `sender ${c.error}` };
    sender = c.address;
  }
  const rcpts = raw.recipients as Record<string, unknown>[];
  if (rcpts.length > MAX_RECIPIENTS) return { ok: false, error: `more than ${MAX_RECIPIENTS} recipients` };
  const recipients: RecipientState[] = [];
  for (const r of rcpts) {
    if (typeof r !== 'object' || r === null || typeof r.address !== 'string' || r.address.length > 1000) return { ok: false, error: 'bad recipient' };
    const c = checkAddress(r.address, expect.domain);
    if (!c.ok) return { ok: false, error: `recipient ${c.error}` };
    const out: RecipientState = { address: c.address, status: 'pending' };
    if (r.notify !== undefined) {
      const notify = Array.isArray(r.notify) ? checkNotify(r.notify) : null;
      if (!notify) return { ok: false, error: 'bad DSN notify' };
      out.notify = notify;
    }
    if (r.orcpt !== undefined) {
      if (!printable(r.orcpt, 1000)) return { ok: false, error: 'bad DSN orcpt' };
      out.orcpt = r.orcpt;
    }
    recipients.push(out);
  }
  if (raw.ret !== undefined && raw.ret !== 'FULL' && raw.ret !== 'HDRS') return { ok: false, error: 'bad DSN ret' };
  if (raw.envid !== undefined && (typeof raw.envid !== 'string' || raw.envid.length > 100 || /[^\x21-\x7e]/.test(raw.envid))) {
    return { ok: false, error: 'bad DSN envid' };
  }
  if (raw.body !== undefined && raw.body !== '7BIT' && raw.body !== '8BITMIME') return { ok: false, error: 'bad body type' };
  const origin = typeof raw.origin === 'string' && ORIGINS.has(raw.origin) ? raw.origin : 'sendmail';
  if (raw.client !== undefined && !printable(raw.client, 300)) return { ok: false, error: 'bad client' };
  // Arrival: the submitter's clock reading, if plausible (not in the future, not older than a week).
  const arrival = parsed.arrival <= expect.now + 60_000 && parsed.arrival >= expect.now - 7 * 86_400_000 ? parsed.arrival : expect.now;
  const rec: ControlRecord = {
    v: FORMAT_VERSION,
    id: expect.id,
    arrival,
    uid: expect.uid,
    user: expect.user,
    sender,
    recipients,
    ...(raw.ret ? { ret: raw.ret as 'FULL' | 'HDRS' } : {}),
    ...(raw.envid ? { envid: raw.envid as string } : {}),
    body: raw.body === '8BITMIME' ? '8BITMIME' : '7BIT',
    smtputf8: raw.smtputf8 === true || !isAscii(sender) || recipients.some((r) => !isAscii(r.address)),
    size: expect.size,
    origin,
    ...(typeof raw.client === 'string' ? { client: raw.client } : {}),
    attempts: 0,
    nextAttempt: 0,
    hold: false,
    drop: expect.drop,
    history: [{ time: arrival, event: 'queued', detail: `uid=${expect.uid} from=<${sender}> nrcpt=${recipients.length} via ${INCOMING}/` }],
  };
  return { ok: true, rec };
}
