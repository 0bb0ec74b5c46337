/**
 * smtpin/stdio.ts — `sendmail -bs`: an SMTP session on stdin/stdout (Symfony Mailer's and
 * Laravel's default sendmail transport).
 *
 * The engine is smtpin/session.ts, the same one `outbox serve` uses; every message goes through
 * submit() (the command line's durable commit) before `250 ... queued as ID`. The sender
 * identity is the calling user, as on the command line: the control record holds the caller's
 * uid and login name, MAIL FROM is the envelope sender (like -f), and the Received: line names
 * the HELO argument, the login name and the uid. The client is trusted (it runs as the user,
 * who could equally run `sendmail -t`), so no AUTH is involved.
 *
 * After each commit, delivery is triggered as on the command line (kick.ts) without delaying
 * the reply: a background kick when `delivery` is background and a relay is configured.
 * ("interactive" is treated as background here: the caller is waiting for our reply.)
 * Symfony and Laravel send QUIT (or close stdin) right after the final ".", so the session
 * may end before a kick has started: the exit waits until every kick has spawned its
 * detached child (milliseconds; never for the delivery itself).
 *
 * Exit status: 0 after QUIT, or end of input between commands; 75 (EX_TEMPFAIL) when input
 * ended in the middle of DATA (nothing of that message was committed) or the client timed out;
 * 76 (EX_PROTOCOL) after too many errors; 74 (EX_IOERR) when stdout broke.
 * Next: session.ts.
 */
import type { Mode } from '../cli/flags.js';
import type { Config } from '../config/config.js';
import type { Io } from '../io.js';
import { currentUser } from '../passwd.js';
import { EX_IOERR, EX_OK, EX_PROTOCOL, EX_TEMPFAIL } from '../sysexits.js';
import { relayConfigured } from '../relay/env.js';
import { gecosName } from '../submit/submit.js';
import { kickBackground } from '../submit/kick.js';
import { InputQueue } from './input.js';
import { SmtpSession, type SessionEnd } from './session.js';
import { feed, writer } from './transport.js';

/** -bs session limits; the idle timeout follows RFC 5321's 5 minutes. */
const IDLE_TIMEOUT_MS = 300_000;

export function exitStatusOf(end: SessionEnd): number {
  switch (end) {
    case 'quit':
    case 'eof':
      return EX_OK;
    case 'too-many-errors':
      return EX_PROTOCOL;
    case 'io-error':
      return EX_IOERR;
    default:
      return EX_TEMPFAIL;
  }
}

export async function runSmtpStdio(mode: Extract<Mode, { kind: 'smtp' }>, config: Config, io: Io): Promise<number> {
  const user = currentUser();
  const idle = Number(process.env.OUTBOX_SMTP_IDLE_TIMEOUT_MS) > 0 ? Number(process.env.OUTBOX_SMTP_IDLE_TIMEOUT_MS) : IDLE_TIMEOUT_MS;
  const stdin = io.stdin;
  const input = new InputQueue({ pause: () => stdin.pause(), resume: () => stdin.resume() });
  const detach = feed(input, stdin);
  // -odq on the command line (or delivery = "queue") keeps messages queued; -odb/-odi kick.
  const kick = (mode.deliveryMode ?? config.delivery) !== 'queue' && relayConfigured(config);
  const kicks: Promise<void>[] = [];
  const session = new SmtpSession(
    { input, write: writer(io.stdout, () => idle), secure: false },
    {
      config,
      origin: 'smtp-stdio',
      submitter: { uid: user.uid, name: user.name, fullName: () => gecosName(user.uid) },
      client: { host: 'localhost', trusted: true },
      receivedUser: user,
      idleTimeoutMs: idle,
      log: mode.verbose ? (line) => io.stderr.write(`sendmail: ${line}\n`) : undefined,
      onCommitted: (info) => {
        if (mode.verbose) io.stderr.write(`sendmail: ${info.id}: queued, from=<${info.sender}>, nrcpt=${info.recipients.length}\n`);
        /* Committed: start delivery, after the 250 reply has gone out. */
        if (kick) kicks.push(new Promise<void>((started) => setImmediate(() => void kickBackground(config, info.id).then(started))));
      },
    },
  );
  const end = await session.run();
  detach();
  stdin.pause();
  // The caller exits as soon as we return: first let every promised kick start its child.
  await Promise.all(kicks);
  return exitStatusOf(end);
}
