/**
 * main.ts — dispatch by the name we were called by and the mode the flags select.
 *
 *   sendmail [flags] [--] [recipients]   submit (default), or -bs, -bp, -bi, -bv, -q..., -bd
 *   mailq [--json]                       = sendmail -bp
 *   newaliases                           = sendmail -bi
 *   outbox <command> ...                 the Outbox-specific commands (src/commands/outbox.ts)
 *
 * This is the only module that decides the exit status, and run() the only place that exits.
 * Every mode is loaded lazily (await import) so that a submission does not pay for the SMTP
 * client or the parsers of other modes. Any unexpected error exits 75 (EX_TEMPFAIL)
 * with one line on stderr, never 0 and never a stack trace on stdout.
 */
import { EX_IOERR, EX_OK, EX_TEMPFAIL, OutboxError, describeError, exitCodeOf } from './sysexits.js';
import type { Mode } from './cli/flags.js';
import type { Config } from './config/config.js';
import pkg from '../package.json' with { type: 'json' };
import { type Io, readFd0 } from './io.js';

/** A private spool left behind by a system installation: say so once (spool/stranded.ts). */
async function noteStrandedSpool(config: Config, io: Io, prog: string): Promise<void> {
  const { strandedSpoolNotice } = await import('./spool/stranded.js');
  const note = strandedSpoolNotice(config, process.getuid ? process.getuid() : 0);
  if (note) io.stderr.write(`${prog}: note: ${note}\n`);
}

async function runMode(mode: Mode, io: Io, prog: string): Promise<number> {
  const loadConfig = async (src: { file?: string | undefined }) => (await import('./config/config.js')).loadConfig(src);
  switch (mode.kind) {
    case 'help': {
      const { programUsage } = await import('./cli/usage.js');
      io.stdout.write(programUsage(prog) + '\n');
      return EX_OK;
    }
    case 'version': {
      io.stdout.write(`outbox ${OUTBOX_VERSION}\n`);
      return EX_OK;
    }
    case 'send': {
      const { sendFromCommandLine } = await import('./submit/command.js');
      // The file reader (TOML parser, key tables) only when there is a file: config/resolve.ts.
      const config = await (await import('./config/resolve.js')).loadConfigLazily({ file: mode.configFile });
      await noteStrandedSpool(config, io, prog);
      return sendFromCommandLine(mode, config, io);
    }
    case 'list': {
      const { currentUser } = await import('./passwd.js');
      const config = await loadConfig({ file: mode.configFile });
      await noteStrandedSpool(config, io, prog);
      const uid = currentUser().uid;
      // A user who cannot read the system spool asks the daemon (queue/access.ts).
      const { mustAskDaemon } = await import('./queue/access.js');
      if (mustAskDaemon(config, uid)) await (await import('./queue/query-client.js')).queryDaemon(config, 'list', { json: mode.json, out: io.stdout });
      else await (await import('./queue/mailq.js')).listQueue(config, { json: mode.json, uid, out: io.stdout });
      return EX_OK;
    }
    case 'smtp': {
      const { runSmtpStdio } = await import('./smtpin/stdio.js');
      return runSmtpStdio(mode, await loadConfig({ file: mode.configFile }), io);
    }
    case 'queue-run': {
      await checkAddressSpace();
      const config = await loadConfig({ file: mode.configFile });
      if (mode.daemon) return (await import('./runner/daemon.js')).runDaemon(mode, config, io);
      const { runQueue } = await import('./runner/queue-run.js');
      return runQueue(mode, config, io);
    }
    case 'newaliases': {
      const { newaliases } = await import('./commands/newaliases.js');
      return newaliases(await loadConfig({ file: mode.configFile }), io);
    }
    case 'verify': {
      const { verifyAddresses } = await import('./commands/newaliases.js');
      return verifyAddresses(mode.addresses, await loadConfig({ file: mode.configFile }), io);
    }
  }
}

/** A queue run under too low an address-space limit: one line and 75, not an abort (addrspace.ts). */
async function checkAddressSpace(): Promise<void> {
  const { addressSpaceLimit, queueRunShortfall } = await import('./addrspace.js');
  const problem = queueRunShortfall(addressSpaceLimit());
  if (problem) throw new OutboxError(EX_TEMPFAIL, problem);
}

/** The version: package.json's, the one place it is written (the bundle inlines it). */
export const OUTBOX_VERSION: string = pkg.version;

/** Run as `name` with `args`; resolves to the exit status. Never rejects. */
export async function main(name: string, args: string[], io: Io): Promise<number> {
  const prog = name === 'mailq' || name === 'newaliases' || name === 'outbox' ? name : 'sendmail';
  // A restart runtime-restart.ts left to us (NODE_EXTRA_CA_CERTS set): done unless this is a plain
  // submission, which never makes a TLS context in this process (deliveries are children).
  const restartForTls = (globalThis as { __outboxRestart?: () => void }).__outboxRestart ?? (() => {});
  try {
    if (prog === 'outbox' && (args.length === 0 || !args[0]!.startsWith('-') || args[0] === '--help' || args[0] === '-h')) {
      restartForTls();
      if (args[0] === 'deliver') await checkAddressSpace();
      const { outboxCommand } = await import('./commands/outbox.js');
      return await outboxCommand(args, io);
    }
    const { parseArgs } = await import('./cli/flags.js');
    const mode = parseArgs(args, prog);
    if (mode.kind !== 'send') restartForTls();
    return await runMode(mode, io, prog);
  } catch (err) {
    const code = exitCodeOf(err);
    const msg = describeError(err);
    io.stderr.write(`${prog}: ${msg}\n`);
    if (process.env.OUTBOX_DEBUG && err instanceof Error && err.stack) io.stderr.write(err.stack + '\n');
    return code;
  }
}

/** Entry point used by bin/ shims and the single executable. The only process.exit. */
export function run(name: string): void {
  // A file size limit (ulimit -f) must fail the write with EFBIG, not kill us with SIGXFSZ.
  process.on('SIGXFSZ', () => {});
  let stdoutUsed = false;
  let stderrUsed = false;
  const io: Io = {
    get stdin() {
      return process.stdin;
    },
    get stdout() {
      if (!stdoutUsed) {
        // The reader went away (`mailq | head -1`): nothing more can be said to it. Exit 74
        // (EX_IOERR) quietly instead of dying of an unhandled EPIPE with a stack trace.
        process.stdout.on('error', (e: NodeJS.ErrnoException) => {
          if (e.code === 'EPIPE') process.exit(EX_IOERR);
          throw e;
        });
      }
      stdoutUsed = true;
      return process.stdout;
    },
    get stderr() {
      stderrUsed = true;
      return process.stderr;
    },
    readInput: readFd0,
  };
  const finish = (code: number) => {
    // Let stdout/stderr drain (they may be pipes), then exit with exactly this status. Streams
    // that were never used are not created just to check them.
    const pending = (stdoutUsed && process.stdout.writableLength > 0) || (stderrUsed && process.stderr.writableLength > 0);
    if (!pending) process.exit(code);
    process.exitCode = code;
    const out = stdoutUsed ? process.stdout : null;
    const err = stderrUsed ? process.stderr : null;
    const last = () => (err ? err.write('', () => process.exit(code)) : process.exit(code));
    if (out) out.write('', last);
    else last();
  };
  main(name, process.argv.slice(2), io).then(finish, () => finish(75));
}
