/**
 * runtime-env.ts — keep the caller's environment away from the Node runtime inside the executable.
 *
 * `sendmail` inherits whatever environment its caller has. Node, libuv and OpenSSL read some
 * variables of their own, and a caller's value would change what Outbox does or prints (a
 * `--require` of a missing file, debug lines on stderr, coverage files, another CA set). Outbox is
 * configured only through its own OUTBOX_* variables (README "Where it runs"). Each variable
 * below is decided deliberately:
 *
 *  - NODE_OPTIONS is ignored by the runtime itself (scripts/build/build.mjs: `execArgvExtension:
 *    "none"`); it is removed here only so that our children do not inherit it.
 *  - READ_AT_START: read by Node, V8 or OpenSSL before our first line runs, with an effect that
 *    lasts. When one is present, entry.ts replaces the process by a fresh copy of itself without
 *    them (execve: same pid, same open files, stdin unread); this costs one more start-up, and
 *    only when such a variable is set. For TLS_ONLY ones, only in modes that may make a TLS
 *    context in this process (not a plain submission: runtime-restart.ts, main.ts).
 *  - READ_LATER: read lazily (on the first TLS connection, the first thread-pool job, a module
 *    lookup), so removing them from the environment before any of that happens is enough.
 *
 * Children we start get the cleaned environment: the background `outbox deliver` (our own
 * executable), `logger`, and password_command / oauth_token_command (the user's own command:
 * it sees the caller's environment without these variables, and must set any it needs itself).
 * TZ, LANG/LC_*, PATH, HOME, USER/LOGNAME and TMPDIR keep their usual POSIX meaning.
 * Pure: no I/O.
 */

/** Read by the runtime at start-up: removing them needs a fresh start (execve). */
export const READ_AT_START: readonly string[] = [
  'NODE_DEBUG', // module debug lines on stderr
  'NODE_DEBUG_NATIVE', // C++ debug lines on stderr
  'NODE_EXTRA_CA_CERTS', // more trusted CAs, and a warning on stderr when unreadable
  'NODE_ICU_DATA',
  'NODE_PENDING_DEPRECATION', // deprecation warnings on stderr
  'NODE_V8_COVERAGE', // coverage files written at exit
  'NODE_COMPILE_CACHE', // compile cache files written
  'NODE_COMPILE_CACHE_PORTABLE',
  'NODE_DISABLE_COMPILE_CACHE',
  'NODE_NO_WARNINGS',
  'NODE_REDIRECT_WARNINGS', // warnings written to a file
  'NODE_CHANNEL_FD', // an IPC channel on an inherited fd
  'NODE_CHANNEL_SERIALIZATION_MODE',
  'NODE_UNIQUE_ID',
  'NODE_USE_ENV_PROXY',
  'NODE_USE_SYSTEM_CA',
  'NODE_PRESERVE_SYMLINKS',
  'NODE_PRESERVE_SYMLINKS_MAIN',
  'NODE_SKIP_PLATFORM_CHECK',
  'OPENSSL_CONF',
  'OPENSSL_MODULES',
  'UV_USE_IO_URING',
];

/** Read lazily, after our first line: removing them in place is enough. */
export const READ_LATER: readonly string[] = [
  'NODE_OPTIONS', // ignored by the runtime (execArgvExtension "none"); children must not get it
  'NODE_TLS_REJECT_UNAUTHORIZED', // checks stay on anyway, but Node would warn on stderr
  'UV_THREADPOOL_SIZE', // libuv's default (4) instead of whatever the caller set
  'NODE_PATH',
  'NODE_REPL_EXTERNAL_MODULE',
  'NODE_REPL_HISTORY',
  'NODE_DISABLE_COLORS',
  'NODE_TEST_CONTEXT',
  'SSL_CERT_FILE', // OpenSSL's default CA locations: Outbox chooses its CA set itself
  'SSL_CERT_DIR',
];

/**
 * Of READ_AT_START, those whose start-up value only matters once this process makes a TLS
 * context: Node keeps NODE_EXTRA_CA_CERTS's file name and reads the file when the first one is
 * made. A plain submission makes none (its deliveries run as children with the cleaned
 * environment, submit/kick.ts), so it may skip the restart for these (main.ts decides by mode).
 */
export const TLS_ONLY: readonly string[] = ['NODE_EXTRA_CA_CERTS'];

export interface RuntimeEnvPlan {
  /** Variables to remove (those present in the input), in the order of the lists above. */
  removed: string[];
  /** true when one of them was read at start-up: the process must start afresh without them. */
  restart: boolean;
  /** true when all of those are TLS_ONLY: the restart may wait until the mode is known. */
  restartOnlyForTls: boolean;
}

/** Which of the variables above `env` holds. Looks up each name (no walk over the environment). */
export function planRuntimeEnv(env: NodeJS.ProcessEnv): RuntimeEnvPlan {
  const removed = READ_AT_START.filter((k) => env[k] !== undefined);
  const restart = removed.length > 0;
  const restartOnlyForTls = restart && removed.every((k) => TLS_ONLY.includes(k));
  for (const k of READ_LATER) if (env[k] !== undefined) removed.push(k);
  return { removed, restart, restartOnlyForTls };
}
