/**
 * runner/bounce.ts — delivery status notifications (RFC 3464 multipart/report) for recipients
 * that failed permanently, and optional delay warnings.
 *
 * A bounce goes from "Mail Delivery System <MAILER-DAEMON@hostname>" with the NULL envelope
 * sender (so it can never cause another bounce) to the original envelope sender, and carries the
 * original message whole (message/rfc822) when it is no larger than bounceSizeLimit (default
 * 100 KB) and RET=HDRS was not asked for, else its header section (text/rfc822-headers).
 * Never generated for: a message whose sender is empty (a bounce itself), recipients whose
 * NOTIFY excludes FAILURE (or DELAY for warnings), configuration problems (see classify.ts).
 * A bounce that cannot be delivered is sent on, once, to the postmaster (postmasterAddress());
 * without one, or when that fails too, it is held and reported (settle.ts), never bounced.
 * It is committed through submit() (origin "bounce"), the one durable commit path, and then
 * delivered like any message.
 *
 * buildReport() is pure (fixture-tested); commitBounce() does the I/O. Throws what submit()
 * throws (EX_TEMPFAIL family on a full disk); the caller logs it and keeps the original.
 */
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/config.js';
import type { ControlRecord, RecipientState } from '../spool/format.js';
import { messagePath, spoolPaths } from '../spool/spool.js';
import { submit } from '../submit/submit.js';
import { rfc5322Date } from '../message/headers.js';
import { aliasTable, expandRecipient, localDomainsOf } from '../config/aliases.js';

export const DEFAULT_BOUNCE_SIZE_LIMIT = 100 * 1024;

export interface ReportRecipient {
  address: string;
  orcpt?: string;
  dsn: string;
  reason: string;
  /** "dns; host" of the relay that answered, when one did. */
  remoteMta?: string;
}

export interface ReportInput {
  kind: 'failed' | 'delayed';
  hostname: string;
  /** The original envelope sender, who gets the report. */
  to: string;
  queueId: string;
  arrival: number;
  now: number;
  envid?: string;
  recipients: ReportRecipient[];
  /** The original message's header section (stored form, LF line ends, ends with "\n"). */
  originalHeaders: string;
  /** Include the whole original (message/rfc822) instead of its headers. */
  full: boolean;
  boundary: string;
  /** For delay warnings: when the message will be given up. */
  retryUntil?: number;
}

/** The report's head and text parts; the original (whole or headers) and the closing boundary follow. */
export function buildReport(r: ReportInput): { head: string; tailOpen: string; tailClose: string } {
  const b = r.boundary;
  const failed = r.kind === 'failed';
  const lines = [
    `From: Mail Delivery System <MAILER-DAEMON@${r.hostname}>`,
    `To: <${r.to}>`,
    `Subject: ${failed ? 'Undelivered Mail Returned to Sender' : 'Delayed Mail (still being retried)'}`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="${b}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${b}`,
    'Content-Description: Notification',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `This is the mail system at host ${r.hostname}.`,
    '',
    failed
      ? "I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients. It's attached below."
      : 'Your message could not be delivered yet to one or more recipients.\nIt will be retried; you do not need to send it again.',
    '',
    ...r.recipients.map((x) => `<${x.address}>: ${x.reason}`),
    '',
    `--${b}`,
    'Content-Description: Delivery report',
    'Content-Type: message/delivery-status',
    '',
    `Reporting-MTA: dns; ${r.hostname}`,
    `X-Outbox-Queue-ID: ${r.queueId}`,
    ...(r.envid ? [`Original-Envelope-Id: ${r.envid}`] : []),
    `Arrival-Date: ${rfc5322Date(new Date(r.arrival))}`,
    '',
  ];
  for (const x of r.recipients) {
    lines.push(`Final-Recipient: rfc822; ${x.address}`);
    if (x.orcpt) lines.push(`Original-Recipient: ${x.orcpt.replace(/^rfc822;\s*/i, 'rfc822; ')}`);
    lines.push(`Action: ${failed ? 'failed' : 'delayed'}`);
    lines.push(`Status: ${x.dsn}`);
    if (x.remoteMta) lines.push(`Remote-MTA: ${x.remoteMta}`);
    if (/^\d{3}[ -]/.test(x.reason.replace(/^host \S+ said: /, '')))
      lines.push(`Diagnostic-Code: smtp; ${x.reason.replace(/^host \S+ said: /, '').replace(/ \(in reply to .*\)$/, '')}`);
    else lines.push(`Diagnostic-Code: X-Outbox; ${x.reason}`);
    lines.push(`Last-Attempt-Date: ${rfc5322Date(new Date(r.now))}`);
    if (!failed && r.retryUntil) lines.push(`Will-Retry-Until: ${rfc5322Date(new Date(r.retryUntil))}`);
    lines.push('');
  }
  lines.push(`--${b}`);
  if (r.full) {
    lines.push('Content-Description: Undelivered Message', 'Content-Type: message/rfc822', '', '');
    return { head: lines.join('\n'), tailOpen: '', tailClose: `\n--${b}--\n` };
  }
  lines.push('Content-Description: Undelivered Message Headers', 'Content-Type: text/rfc822-headers', '', '');
  return { head: lines.join('\n') + r.originalHeaders, tailOpen: '', tailClose: `\n--${b}--\n` };
}

/**
 * Where an undeliverable bounce goes: `OUTBOX_POSTMASTER`, else `postmaster` in the
 * configuration, else the target of a `postmaster` or `root` alias when the aliases file has
 * one that leads off this host; undefined when none is set (the bounce is then held and
 * reported).
 */
export function postmasterAddress(config: Config, env: NodeJS.ProcessEnv): string | undefined {
  const set = env.OUTBOX_POSTMASTER?.trim() || config.postmaster;
  if (set) return set.includes('@') ? set : `${set}@${config.domain}`;
  let table: ReturnType<typeof aliasTable> = null;
  try {
    table = aliasTable(config);
  } catch {
    return undefined;
  }
  // Debian's stock "postmaster: root" (and nothing for root) ends at root@<this host>: a mailbox
  // no relay delivers, so it does not count as configured.
  const here = new Set([config.domain.toLowerCase(), ...localDomainsOf(config)]);
  for (const name of ['postmaster', 'root']) {
    if (!table?.entries.has(name)) continue;
    const r = expandRecipient(config, name);
    const to = 'error' in r ? undefined : r.addresses[0];
    const at = to ? to.lastIndexOf('@') : -1;
    if (to && !(/^(root|postmaster)$/i.test(to.slice(0, at)) && here.has(to.slice(at + 1).toLowerCase()))) return to;
  }
  return undefined;
}

/** Read the header section of a stored message (up to the first empty line, bounded). */
export function readHeaderSection(file: string, limit = 256 * 1024): string {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(limit);
    const n = fs.readSync(fd, buf, 0, limit, 0);
    const text = buf.subarray(0, n).toString('latin1');
    const end = text.indexOf('\n\n');
    return end >= 0 ? text.slice(0, end + 1) : text.endsWith('\n') ? text : text + '\n';
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Does this recipient want a notification of this kind (RFC 3461 NOTIFY)? Without NOTIFY:
 * failures yes, delays yes (delay warnings are off unless delay_warning is configured).
 */
export function wantsNotice(r: RecipientState, kind: 'failed' | 'delayed'): boolean {
  if (!r.notify || r.notify.length === 0) return true;
  if (r.notify.includes('NEVER')) return false;
  return r.notify.includes(kind === 'failed' ? 'FAILURE' : 'DELAY');
}

/** Commit a DSN for `recipients` of `rec` into the spool; returns the new queue id. */
export async function commitReport(
  config: Config,
  rec: ControlRecord,
  kind: 'failed' | 'delayed',
  recipients: ReportRecipient[],
  now: number,
): Promise<string> {
  const p = spoolPaths(config.spool);
  const file = messagePath(p, rec.id);
  const limit = config.deliverySettings?.bounceSizeLimit ?? DEFAULT_BOUNCE_SIZE_LIMIT;
  const full = kind === 'failed' && rec.ret !== 'HDRS' && rec.size <= limit;
  const report = buildReport({
    kind,
    hostname: config.hostname,
    to: rec.sender,
    queueId: rec.id,
    arrival: rec.arrival,
    now,
    ...(rec.envid ? { envid: rec.envid } : {}),
    recipients,
    originalHeaders: full ? '' : readHeaderSection(file),
    full,
    retryUntil: rec.arrival + (config.deliverySettings?.maxQueueLifetimeMs ?? 5 * 86400_000),
    boundary: `${rec.id}.${randomBytes(6).toString('hex')}/${config.hostname}`,
  });
  async function* input(): AsyncGenerator<Buffer> {
    yield Buffer.from(report.head, 'utf8');
    if (full) for await (const chunk of fs.createReadStream(file)) yield chunk as Buffer;
    yield Buffer.from(report.tailClose, 'utf8');
  }
  const res = await submit({
    config,
    submitter: { uid: process.getuid ? process.getuid() : 0, name: 'MAILER-DAEMON' },
    sender: '',
    recipients: [rec.sender],
    extractRecipients: false,
    ignoreDots: true,
    // bodyType left out: submit() detects 8-bit bytes (an 8-bit original, a UTF-8 reply text).
    dsn: {},
    origin: 'bounce',
    received: (id, date) => `by ${config.hostname} (Outbox bounce for ${rec.id})\n\tid ${id}; ${rfc5322Date(date)}`,
    input: input(),
  });
  return res.id;
}
