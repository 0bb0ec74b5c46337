/**
 * submit/command.ts — `sendmail [flags] recipients < message`: the command-line submission.
 *
 * Reads stdin into the spool (submit.ts), then moves the message on according to the delivery
 * mode (-odb background kick, -odi wait for a delivery child, -odq nothing; kick.ts; a message
 * dropped into the system spool's incoming/ is left to the runner). Exit status:
 * 0 once the message is committed (and, with -odi, the child's real outcome; see README.md
 * "Exit status").
 */
import type { SendOptions } from '../cli/flags.js';
import type { Config } from '../config/config.js';
import type { Io } from '../io.js';
import { currentUser } from '../passwd.js';
import { EX_DATAERR, EX_NOHOST, EX_NOUSER, EX_OK, EX_UNAVAILABLE } from '../sysexits.js';
import { gecosName, submit } from './submit.js';
import { rfc5322Date } from '../message/headers.js';
import { deliverInteractive, kickBackground } from './kick.js';
import { relayConfigured } from '../relay/env.js';

/** How long -odi's delivery child has the new message to itself (see SubmitRequest.reserveMs). */
export const ODI_RESERVE_MS = 60_000;

export async function sendFromCommandLine(mode: SendOptions, config: Config, io: Io): Promise<number> {
  const user = currentUser();
  const delivery = mode.deliveryMode ?? config.delivery;
  const result = await submit({
    config,
    submitter: { uid: user.uid, name: user.name, fullName: () => gecosName(user.uid) },
    sender: mode.sender,
    fullName: mode.fullName,
    recipients: mode.recipients,
    extractRecipients: mode.extractRecipients,
    ignoreDots: mode.ignoreDots,
    bodyType: mode.bodyType,
    dsn: mode.dsn,
    origin: 'sendmail',
    received: (id, date) => `by ${config.hostname} (Outbox, from userid ${user.uid})\n\tid ${id}; ${rfc5322Date(date)}`,
    input: io.readInput ? io.readInput() : io.stdin,
    // Why: with a daemon running, the daemon would otherwise race our -odi child for the new
    // message, and the child could only report "already gone" (0) even for a bounce.
    ...(delivery === 'interactive' ? { reserveMs: ODI_RESERVE_MS } : {}),
  });
  /* The message is committed: from here on nothing may turn this into a failure, except -odi's
     delivery outcome, which the caller asked for. */
  if (mode.verbose) io.stderr.write(`queued as ${result.id}\n`);
  // Dropped into incoming/ of the system spool: we can neither read the queue nor the relay's
  // credentials, so nothing to start; the daemon watches incoming/, the timer's `sendmail -q`
  // picks it up. -odi then means -odb (cron's -odi must not fail). See README "Privilege model".
  if (result.dropped) return EX_OK;
  if (delivery === 'interactive') {
    const { status, detail } = await deliverInteractive(config, result.id, mode.verbose);
    // 65/67/68/69 from `outbox deliver`: refused for good (it has said which recipients, and a
    // bounce is queued); anything else (75 deferred, a child that died or never ran): queued.
    const permanent = [EX_DATAERR, EX_NOUSER, EX_NOHOST, EX_UNAVAILABLE].includes(status);
    if (permanent) io.stderr.write(`sendmail: ${result.id}: delivery ${detail}; not delivered, the sender gets a bounce\n`);
    else if (status !== EX_OK) io.stderr.write(`sendmail: ${result.id}: delivery ${detail}; the message stays queued\n`);
    return status;
  }
  if (delivery === 'background' && relayConfigured(config)) await kickBackground(config, result.id);
  return EX_OK;
}
