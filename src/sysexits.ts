/**
 * sysexits.ts — the exit codes Outbox uses, as one table (like Postfix's sys_exits.c).
 *
 * Every exit status the program can produce is a row here, with the RFC 3463 enhanced status
 * code used when the same condition is reported over SMTP (-bs) or in a bounce, and the text
 * printed on stderr. Anything that is not an `OutboxError` carrying one of these codes is an
 * unexpected failure and maps to EX_TEMPFAIL (75): a caller then retries instead of believing
 * in a success or a permanent failure. Only src/main.ts calls process.exit.
 */

export const EX_OK = 0;
export const EX_USAGE = 64;
export const EX_DATAERR = 65;
export const EX_NOINPUT = 66;
export const EX_NOUSER = 67;
export const EX_NOHOST = 68;
export const EX_UNAVAILABLE = 69;
export const EX_SOFTWARE = 70;
export const EX_OSERR = 71;
export const EX_OSFILE = 72;
export const EX_CANTCREAT = 73;
export const EX_IOERR = 74;
export const EX_TEMPFAIL = 75;
export const EX_PROTOCOL = 76;
export const EX_NOPERM = 77;
export const EX_CONFIG = 78;

export interface SysexitRow {
  code: number;
  name: string;
  /** RFC 3463 status used for the same condition in SMTP replies and DSNs. */
  dsn: string;
  text: string;
}

export const SYSEXITS: readonly SysexitRow[] = [
  { code: EX_OK, name: 'EX_OK', dsn: '2.0.0', text: 'success' },
  { code: EX_USAGE, name: 'EX_USAGE', dsn: '5.5.4', text: 'command line usage error' },
  { code: EX_DATAERR, name: 'EX_DATAERR', dsn: '5.6.0', text: 'data format error' },
  { code: EX_NOINPUT, name: 'EX_NOINPUT', dsn: '5.3.0', text: 'cannot open input' },
  { code: EX_NOUSER, name: 'EX_NOUSER', dsn: '5.1.1', text: 'addressee unknown' },
  { code: EX_NOHOST, name: 'EX_NOHOST', dsn: '5.1.2', text: 'host name unknown' },
  { code: EX_UNAVAILABLE, name: 'EX_UNAVAILABLE', dsn: '5.3.0', text: 'service unavailable' },
  { code: EX_SOFTWARE, name: 'EX_SOFTWARE', dsn: '5.3.0', text: 'internal software error' },
  { code: EX_OSERR, name: 'EX_OSERR', dsn: '4.3.0', text: 'system resource problem' },
  { code: EX_OSFILE, name: 'EX_OSFILE', dsn: '5.3.5', text: 'critical OS file missing' },
  { code: EX_CANTCREAT, name: 'EX_CANTCREAT', dsn: '4.3.0', text: "can't create output" },
  { code: EX_IOERR, name: 'EX_IOERR', dsn: '4.3.0', text: 'input/output error' },
  { code: EX_TEMPFAIL, name: 'EX_TEMPFAIL', dsn: '4.3.0', text: 'temporary failure' },
  { code: EX_PROTOCOL, name: 'EX_PROTOCOL', dsn: '5.5.0', text: 'remote error in protocol' },
  { code: EX_NOPERM, name: 'EX_NOPERM', dsn: '5.7.0', text: 'permission denied' },
  { code: EX_CONFIG, name: 'EX_CONFIG', dsn: '4.3.5', text: 'local configuration error' },
];

export function sysexit(code: number): SysexitRow {
  return SYSEXITS.find((r) => r.code === code) ?? SYSEXITS.find((r) => r.code === EX_TEMPFAIL)!;
}

/** An expected failure: a message for stderr and the exit status that goes with it. */
export class OutboxError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OutboxError';
    this.exitCode = exitCode;
  }
}

/** The exit status for any thrown value: an OutboxError's own code, else EX_TEMPFAIL. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof OutboxError) return err.exitCode;
  // Out of disk space or quota while writing: the caller should retry later.
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG') return EX_TEMPFAIL;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return EX_CANTCREAT;
  return EX_TEMPFAIL;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file size limit exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or directory',
  EIO: 'input/output error',
};

/** One line for stderr: an OutboxError's message, or an OS error said plainly. */
export function describeError(err: unknown): string {
  if (err instanceof OutboxError) return err.message;
  const e = err as NodeJS.ErrnoException | undefined;
  if (e && typeof e.code === 'string' && ERRNO_TEXT[e.code]) {
    const where = e.path ? ` (${e.syscall ?? 'access'} ${e.path})` : e.syscall ? ` (${e.syscall})` : '';
    const retry = exitCodeOf(err) === EX_TEMPFAIL ? '; the message was not queued, try again later' : '';
    return `cannot write to the spool: ${ERRNO_TEXT[e.code]}${where}${retry}`;
  }
  return `error: ${e?.message ?? String(err)}`;
}
