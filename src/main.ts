/**
 * main.ts — dispatch by the name we were called by and the mode the flags select.
 *
 *   sendmail [flags] [--] [recipients]   submit (default), or -bs, -bp, -bi, -bv, -q..., -bd
 *   mailq [--json]                       = sendmail -bp
 *   newaliases                           = sendmail -bi
 *   outbox <command> ...                 the Outbox-specific commands (src/outbox-cli.ts)
 *
 * This is the only module that decides the exit status, and run() the only place that exits.
 * Every mode is loaded lazily (await import) so that a submission does not pay for the SMTP
 * client, the parser of other modes, or commander. Any unexpected error exits 75 (EX_TEMPFAIL)
 * with one line on stderr, never 0 and never a stack trace on stdout.
 */
import * as os from 'node:os';
import { EX_OK, OutboxError, exitCodeOf } from './sysexits.js';
import type { Mode } from './cli/flags.js';

export interface Io {
  stdin: NodeJS.ReadableStream & AsyncIterable<Buffer | string>;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** The calling user: uid and login name (getpwuid, then $LOGNAME/$USER, then uid<N>). */
export function currentUser(): { uid: number; name: string } {
  const uid = process.getuid ? process.getuid() : 0;
  try {
    return { uid, name: os.userInfo().username };
  } catch {
    const env = process.env.LOGNAME || process.env.USER;
    return { uid, name: env && /^[A-Za-z0-9._-]+$/.test(env) ? env : `uid${uid}` };
  }
}

async function runMode(mode: Mode, io: Io): Promise<number> {
  const { loadConfig } = await import('./config/config.js');
  switch (mode.kind) {
    case 'version': {
      io.stdout.write(`outbox ${OUTBOX_VERSION}\n`);
      return EX_OK;
    }
    case 'send': {
      const { sendFromCommandLine } = await import('./submit/command.js');
      return sendFromCommandLine(mode, loadConfig({ file: mode.configFile }), io);
    }
    case 'list': {
      const { listQueue } = await import('./queue/mailq.js');
      await listQueue(loadConfig({ file: mode.configFile }), { json: mode.json, uid: currentUser().uid, out: io.stdout });
      return EX_OK;
    }
    case 'smtp': {
      const { runSmtpStdio } = await import('./smtpin/stdio.js');
      return runSmtpStdio(mode, loadConfig({ file: mode.configFile }), io);
    }
    case 'queue-run': {
      const { runQueue } = await import('./runner/queue-run.js');
      return runQueue(mode, loadConfig({ file: mode.configFile }), io);
    }
    case 'newaliases': {
      const { newaliases } = await import('./config/aliases-command.js');
      return newaliases(loadConfig({ file: mode.configFile }), io);
    }
    case 'verify': {
      const { verifyAddresses } = await import('./config/aliases-command.js');
      return verifyAddresses(mode.addresses, loadConfig({ file: mode.configFile }), io);
    }
  }
}

export const OUTBOX_VERSION = '0.1.0';

/** Run as `name` with `args`; resolves to the exit status. Never rejects. */
export async function main(name: string, args: string[], io: Io): Promise<number> {
  const prog = name === 'mailq' || name === 'newaliases' || name === 'outbox' ? name : 'sendmail';
  try {
    if (prog === 'outbox' && args.length > 0 && !args[0]!.startsWith('-')) {
      const { outboxCommand } = await import('./outbox-cli.js');
      return await outboxCommand(args, io);
    }
    const { parseArgs } = await import('./cli/flags.js');
    const mode = parseArgs(args, prog);
    return await runMode(mode, io);
  } catch (err) {
    const code = exitCodeOf(err);
    const msg = err instanceof OutboxError ? err.message : `error: ${(err as Error)?.message ?? String(err)}`;
    io.stderr.write(`${prog}: ${msg}\n`);
    if (process.env.OUTBOX_DEBUG && err instanceof Error && err.stack) io.stderr.write(err.stack + '\n');
    return code;
  }
}

/** Entry point used by bin/ shims and the single executable. The only process.exit. */
export function run(name: string): void {
  // A file size limit (ulimit -f) must fail the write with EFBIG, not kill us with SIGXFSZ.
  process.on('SIGXFSZ', () => {});
  const io: Io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  main(name, process.argv.slice(2), io).then(
    (code) => finish(code),
    () => finish(75),
  );
}

function finish(code: number): void {
  // Let stdout/stderr drain (they may be pipes), then exit with exactly this status.
  process.exitCode = code;
  const flushAndExit = () => process.exit(code);
  if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) flushAndExit();
  else process.stdout.write('', () => process.stderr.write('', flushAndExit));
}
