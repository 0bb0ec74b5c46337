/**
 * test/helpers/serve.ts — run `build/outbox serve` as a subprocess and wait until it listens.
 * Its stderr (the smtpd log) is collected; stop() sends SIGTERM and waits (bounded).
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { OUTBOX, cleanEnv } from './run.js';
import { constants } from 'node:os';

export interface Served {
  child: ChildProcess;
  /** "host:port" per listen address, in the order given, ports resolved. */
  ports: number[];
  log(): string;
  /** Wait until the log matches (bounded). */
  waitLog(re: RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<number>;
}

export async function startServe(args: string[], env: Record<string, string>, wrap: string[] = [], timeoutMs = 10_000): Promise<Served> {
  const cmd = wrap.length ? wrap[0]! : OUTBOX;
  const argv = wrap.length ? [...wrap.slice(1), OUTBOX, 'serve', ...args] : ['serve', ...args];
  const child = spawn(cmd, argv, { env: cleanEnv({ OUTBOX_LOG: 'stderr', ...env }), stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const waiters = new Set<() => void>();
  child.stderr!.on('data', (d: Buffer) => {
    log += d.toString();
    for (const w of waiters) w();
  });
  const expected = args.filter((a) => a === '--listen').length || 1;
  const waitLog = (re: RegExp, ms = timeoutMs) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (re.test(log)) {
          waiters.delete(check);
          clearTimeout(t);
          resolve();
        }
      };
      const t = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`serve log did not match ${re}; log:\n${log}`));
      }, ms);
      waiters.add(check);
      check();
    });
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0))));
  await Promise.race([
    waitLog(new RegExp(`(listening on .*\\n[^]*){${expected}}`)),
    exited.then((c) => {
      throw new Error(`serve exited ${c}: ${log}`);
    }),
  ]);
  const ports = [...log.matchAll(/listening on \S+:(\d+)/g)].map((m) => Number(m[1]));
  return {
    child,
    ports,
    log: () => log,
    waitLog,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}
