/**
 * submit/kick.ts — after a commit, get the message moving without delaying the caller.
 *
 * -odb (the default): if a queue daemon is running it sees the new control record by itself
 * (it watches ctl/); otherwise a detached one-shot delivery of this message is started
 * (`outbox deliver <ID>`), with no stdio and unref'd, so the submitter exits at once. Nothing the
 * background child does can change the submitter's exit status: the mail is already safe.
 * -odi: deliver now in a child and wait; the child's real outcome is the exit status
 * (see child.ts). -odq: nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config/config.js';
import { spoolPaths } from '../spool/spool.js';
import { runChild, selfCommand, statusForParent, describeOutcome } from './child.js';

/**
 * The pid in run/daemon.pid, if that process is alive and runs this same program (after a reboot
 * the pid may belong to anything else: then no daemon is running, and a kick is needed).
 */
export function runningDaemon(config: Config): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(spoolPaths(config.spool).run, 'daemon.pid'), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return null;
    process.kill(pid, 0);
    let exe: string | null = null;
    try {
      exe = fs.readlinkSync(`/proc/${pid}/exe`);
    } catch {
      // Another user's process (EACCES), or no /proc: alive is all we can tell.
    }
    if (exe !== null && exe !== process.execPath) return null;
    return pid;
  } catch (e) {
    // EPERM: alive, but another user's process (the system daemon seen by a submitter).
    if ((e as NodeJS.ErrnoException).code === 'EPERM') return -1;
    return null;
  }
}

function childArgs(config: Config, id: string): string[] {
  return ['deliver', ...(config.file ? ['-C', config.file] : []), id];
}

/**
 * Start a detached delivery of one message; resolves as soon as it is started (not when it
 * ends). Never rejects. child_process is loaded only here, when a kick is needed.
 */
export async function kickBackground(config: Config, id: string): Promise<void> {
  if (runningDaemon(config) !== null) return;
  const self = selfCommand();
  try {
    const { spawn } = await import('node:child_process');
    // --background: bounded by kick slots (see src/runner/deliver-command.ts), never a flood.
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
