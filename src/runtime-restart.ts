/**
 * runtime-restart.ts — imported first by entry.ts, for its effect: remove the caller's Node,
 * OpenSSL and libuv variables (runtime-env.ts) before any other module loads, and when one of
 * them was already read by the runtime at start-up, replace the process by a fresh copy of itself
 * without them. Imports nothing that loads a Node module, so that this runs before any of them.
 */
import { planRuntimeEnv } from './runtime-env.js';

const plan = planRuntimeEnv(process.env);
for (const k of plan.removed) delete process.env[k];
// Not in the slim variant (scripts/package/slim/): its launcher unsets these before Node starts, and
// process.execPath is the system's node there, not Outbox.
if (plan.restart && process.execve && !(globalThis as { __outboxSlim?: string }).__outboxSlim) {
  // execve: the same pid, open files and unread stdin; argv[1] is the name we were called by.
  try {
    process.execve(process.execPath, [process.argv[1] ?? 'sendmail', ...process.argv.slice(2)], { ...process.env });
  } catch {
    // Not replaced: go on in this process, with the cleaned environment.
  }
}
