/**
 * entry.ts — the single executable's entry point (bundled by scripts/build/build.mjs).
 * The name we were called by (sendmail, mailq, newaliases, outbox) selects the personality.
 * First of all, runtime-restart.ts keeps the caller's Node/OpenSSL/libuv variables out.
 */
import './runtime-restart.js';
import * as path from 'node:path';
import { run } from './main.js';

(globalThis as { __outboxSea?: boolean }).__outboxSea = true;
run(path.basename(process.argv[1] ?? 'sendmail'));
