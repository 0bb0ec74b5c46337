import { test } from 'node:test';
import assert from 'node:assert/strict';
import { READ_AT_START, READ_LATER, TLS_ONLY, planRuntimeEnv } from '../../src/runtime-env.js';

test('an application environment (NODE_ENV, PATH, ...) is kept and costs no restart', () => {
  assert.deepEqual(planRuntimeEnv({ NODE_ENV: 'production', PATH: '/bin', HOME: '/', TZ: 'UTC', OUTBOX_SPOOL: '/s' }), {
    removed: [],
    restart: false,
    restartOnlyForTls: false,
  });
});

test('NODE_OPTIONS and lazily read variables are removed without a restart', () => {
  assert.deepEqual(planRuntimeEnv({ NODE_OPTIONS: '--require ./t.js', NODE_TLS_REJECT_UNAUTHORIZED: '0', UV_THREADPOOL_SIZE: '64', NODE_ENV: 'x' }), {
    removed: ['NODE_OPTIONS', 'NODE_TLS_REJECT_UNAUTHORIZED', 'UV_THREADPOOL_SIZE'],
    restart: false,
    restartOnlyForTls: false,
  });
});

test('a variable the runtime read at start-up asks for a restart without it', () => {
  for (const k of READ_AT_START) {
    const onlyTls = TLS_ONLY.includes(k);
    assert.deepEqual(planRuntimeEnv({ [k]: '1', NODE_OPTIONS: '' }), { removed: [k, 'NODE_OPTIONS'], restart: true, restartOnlyForTls: onlyTls }, k);
  }
});

test('NODE_EXTRA_CA_CERTS alone: a restart that only modes making a TLS context need; with any other start-up variable, a restart always', () => {
  assert.deepEqual(TLS_ONLY, ['NODE_EXTRA_CA_CERTS']);
  assert.ok(TLS_ONLY.every((k) => READ_AT_START.includes(k)));
  assert.deepEqual(planRuntimeEnv({ NODE_EXTRA_CA_CERTS: '/ca.pem', SSL_CERT_FILE: '/x' }), {
    removed: ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE'],
    restart: true,
    restartOnlyForTls: true,
  });
  assert.deepEqual(planRuntimeEnv({ NODE_EXTRA_CA_CERTS: '/ca.pem', NODE_DEBUG: 'fs' }).restartOnlyForTls, false);
});

test('the two lists do not overlap and hold no OUTBOX_ variable', () => {
  assert.equal(new Set([...READ_AT_START, ...READ_LATER]).size, READ_AT_START.length + READ_LATER.length);
  assert.ok([...READ_AT_START, ...READ_LATER].every((k) => !k.startsWith('OUTBOX_')));
});

test('address space: the soft limit from /proc/self/limits, and the one line for a queue run below the minimum', async () => {
  const { addressSpaceLimit, queueRunShortfall, QUEUE_RUN_MIB } = await import('../../src/addrspace.js');
  const row = (soft: string) =>
    `Limit                     Soft Limit           Hard Limit           Units\nMax address space         ${soft}            unlimited            bytes\n`;
  assert.equal(addressSpaceLimit(row('unlimited')), null);
  assert.equal(addressSpaceLimit(row('1073741824')), 1073741824);
  assert.equal(addressSpaceLimit(''), null);
  assert.equal(queueRunShortfall(null), null);
  assert.equal(queueRunShortfall(QUEUE_RUN_MIB * 1024 * 1024), null);
  assert.equal(
    queueRunShortfall(680 * 1024 * 1024),
    `the address-space limit (ulimit -v 696320) is below the ${QUEUE_RUN_MIB} MiB a queue run needs: the mail stays queued; raise it to at least ulimit -v ${QUEUE_RUN_MIB * 1024}`,
  );
});

test('the bundle loads built-in modules with require(), never through the ESM loader (no stream machinery on the submit path)', async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const bundle = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../build/outbox.cjs');
  const code = fs.readFileSync(bundle, 'utf8');
  assert.doesNotMatch(code, /\bimport\(["']node:/);
  assert.match(code, /const \{ read \} = require\("node:fs"\)/, 'readFd0 loads fs with require');
});
