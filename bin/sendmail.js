#!/usr/bin/env node
// Development shim: runs the compiled JavaScript as `sendmail`. The installed program is the single
// executable built by scripts/build/build.mjs (build/outbox), linked under each name.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
globalThis.__outboxScriptDir = dirname(fileURLToPath(import.meta.url));
const { run } = await import('../dist/src/main.js');
run('sendmail');
