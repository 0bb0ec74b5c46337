// slim.cjs — the slim variant's entry on the system's Node (started by the launcher `outbox`
// beside it, see launcher.sh.in): takes the name the launcher was called by as the personality,
// tells the bundle how to start itself again (the launcher, not node), turns on Node's on-disk
// compile cache where this Node has it (>= 22.1), then runs the bundle outbox.cjs.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const mod = require('node:module');

// argv: [node, slim.cjs, NAME, ...args] -> [node, NAME, ...args]: entry.ts reads argv[1].
process.argv.splice(1, 1);
globalThis.__outboxSlim = path.join(__dirname, 'outbox');

// The compile cache is V8 code loaded into this process, so only from a directory that nobody
// else can write: $XDG_CACHE_HOME/outbox or ~/.cache/outbox, and only when that cache directory
// already exists and belongs to this user (a daemon user or nobody gets none, and no stray
// directories appear in a home that is a spool or "/").
function cacheDir() {
  const env = process.env;
  const base = env.XDG_CACHE_HOME || (env.HOME && env.HOME !== '/' ? path.join(env.HOME, '.cache') : '');
  if (!base || !path.isAbsolute(base)) return null;
  try {
    const st = fs.statSync(base);
    if (!st.isDirectory() || st.uid !== process.getuid() || (st.mode & 0o022) !== 0) return null;
  } catch {
    return null;
  }
  return path.join(base, 'outbox');
}
if (typeof mod.enableCompileCache === 'function') {
  const dir = cacheDir();
  if (dir) {
    try {
      const r = mod.enableCompileCache(dir);
      // Written at exit; Outbox ends with process.exit(), which skips Node's own flush.
      if (r && r.status === mod.constants.compileCacheStatus.ENABLED && typeof mod.flushCompileCache === 'function') {
        process.once('exit', () => mod.flushCompileCache());
      }
    } catch {
      // No cache: the bundle is compiled from source, as on Node 20.
    }
  }
}
require('./outbox.cjs');
