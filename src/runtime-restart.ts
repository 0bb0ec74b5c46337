/**
 * runtime-restart.ts — imported first by entry.ts, for its effect: remove the caller's Node,
 * OpenSSL and libuv variables (runtime-env.ts) before any other module loads, and when one of
 * them was already read by the runtime at start-up, replace the process by a fresh copy of itself
 * without them (now, or for TLS-only ones through globalThis.__outboxRestart, which main.ts calls
 * once it knows the mode). Imports nothing that loads a Node module, so that this runs before any
 * of them.
 */
import { planRuntimeEnv } from './runtime-env.js';

const plan = planRuntimeEnv(process.env);
for (const k of plan.removed) delete process.env[k];
// Not in the slim variant (scripts/package/slim/): its launcher unsets these before Node starts, and
// process.execPath is the system's node there, not Outbox.
if (plan.restart && process.execve && !(globalThis as { __outboxSlim?: string }).__outboxSlim) {
  // Only TLS_ONLY variables (NODE_EXTRA_CA_CERTS): main.ts restarts once the mode is known, unless
  // it is a plain submission, which makes no TLS context here; it saves a whole start-up.
  if (plan.restartOnlyForTls) (globalThis as { __outboxRestart?: () => void }).__outboxRestart = restart;
  else restart();
}

function restart(): void {
  // execve: the same pid, open files and unread stdin; argv[1] is the name we were called by.
  try {
    process.execve!(process.execPath, [process.argv[1] ?? 'sendmail', ...process.argv.slice(2)], { ...process.env });
  } catch {
    // Not replaced: go on in this process, with the cleaned environment.
  }
}
