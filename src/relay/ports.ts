/**
 * relay/ports.ts — can a relay's ports be reached at all? `outbox check` opens a plain TCP
 * connection to 587, 465 and 25 (and the relay's own port), in parallel and bounded in time, and
 * says the answer plainly ("port 25 blocked" is the everyday case). portFinding() is pure.
 */
import * as net from 'node:net';
import type { Finding, Level } from './probe-cert.js';

/** The ports probed besides the relay's own (`outbox check --ports` replaces them). */
export const STANDARD_PORTS = [587, 465, 25];

export type PortResult = { state: 'open'; ms: number } | { state: 'refused' } | { state: 'timeout'; ms: number } | { state: 'error'; code: string };

/** How a port probe reads to a person (port 25 blocked is said plainly). */
export function portFinding(port: number, r: PortResult, relayPort: number): Finding {
  const mine = port === relayPort;
  const level = (bad: boolean): Level => (bad ? (mine ? 'fail' : 'info') : 'ok');
  switch (r.state) {
    case 'open':
      return { level: 'ok', text: `port ${port}: open (${r.ms} ms)` };
    case 'refused':
      return {
        level: level(true),
        text:
          port === 25
            ? `port 25 blocked or closed: connection refused${mine ? '' : ' (fine: this relay uses port ' + relayPort + ')'}`
            : `port ${port}: closed (connection refused)`,
      };
    case 'timeout':
      return {
        level: level(true),
        text:
          port === 25
            ? `port 25 blocked: no answer within ${Math.round(r.ms / 1000)} s (most ISPs and cloud providers block outgoing port 25; use a relay on 587 or 465)`
            : `port ${port} blocked: no answer within ${Math.round(r.ms / 1000)} s (a firewall drops it)`,
      };
    case 'error':
      return { level: level(true), text: `port ${port}: ${r.code === 'ENOTFOUND' || r.code === 'EAI_AGAIN' ? 'host name not found' : r.code}` };
  }
}

export function probePort(host: string, port: number, timeoutMs: number): Promise<PortResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ state: 'timeout', ms: timeoutMs });
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve({ state: 'open', ms: Date.now() - t0 });
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      s.destroy();
      resolve(e.code === 'ECONNREFUSED' ? { state: 'refused' } : { state: 'error', code: e.code ?? e.message });
    });
  });
}
