/**
 * submit/kick.ts — after a commit, get the message moving without delaying the caller.
 *
 * -odb (the default): if a runner watches the spool (the daemon, or a lingering runner: the pid
 * in run/daemon.pid is alive) it sees the new control record by itself; otherwise a detached
 * runner is started (`outbox deliver --background <ID>`, which delivers and then lingers for
 * more mail: runner/daemon.ts), with no stdio and unref'd, so the submitter exits at once.
 * The commit comes before this check: see daemon.ts for why no message is stranded. Nothing the
 * background child does can change the submitter's exit status: the mail is already safe.
 * -odi: deliver now in a child and wait; the child's real outcome is the exit status
 * (see child.ts). -odq: nothing.
 */
import type { Config } from '../config/config.js';
import { runnerWatching } from '../spool/pidfile.js';
import { runChild, selfCommand, statusForParent, describeOutcome } from './child.js';

function childArgs(config: Config, id: string): string[] {
  return ['deliver', ...(config.file ? ['-C', config.file] : []), id];
}

/**
 * Start a detached delivery of one message; resolves as soon as it is started (not when it
 * ends). Never rejects. child_process is loaded only here, when a kick is needed.
 */
export async function kickBackground(config: Config, id: string): Promise<void> {
  if (runnerWatching(config.spool) !== null) return;
  const self = selfCommand();
  try {
    const { spawn } = await import('node:child_process');
    // --background: one lingering runner per spool (runner/daemon.ts), never a flood.
    const child = spawn(self.command, [...self.prefix, ...childArgs(config, id), '--background'], {
      argv0: self.argv0,
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, OUTBOX_SPOOL: config.spool },
    });
    child.on('error', () => {
      // The message is queued; the next queue run delivers it. Nothing to report to the caller.
    });
    child.unref();
  } catch {
    // Same: a failed kick never changes the outcome of a committed submission.
  }
}

/** Deliver one message now in a child and wait (-odi). Returns the exit status to report. */
export async function deliverInteractive(config: Config, id: string, verbose: boolean): Promise<{ status: number; detail: string }> {
  const self = selfCommand();
  const args = childArgs(config, id);
  if (verbose) args.push('-v');
  const outcome = await runChild(self.command, [...self.prefix, ...args], {
    argv0: self.argv0,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, OUTBOX_SPOOL: config.spool },
  });
  return { status: statusForParent(outcome), detail: describeOutcome(outcome) };
}
