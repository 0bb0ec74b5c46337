/**
 * entry.ts — the single executable's entry point (bundled by scripts/build.mjs).
 * The name we were called by (sendmail, mailq, newaliases, outbox) selects the personality.
 */
import * as path from 'node:path';
import { run } from './main.js';

(globalThis as { __outboxSea?: boolean }).__outboxSea = true;
run(path.basename(process.argv[1] ?? 'sendmail'));
