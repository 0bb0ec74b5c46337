/** A deferred control record for the queue tests: two recipients, one still pending; `over` replaces fields. */
import type { ControlRecord } from '../../../src/spool/format.js';

export const ID = '1M815A0FX6KD';
export const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);

export function record(over: Partial<ControlRecord> = {}): ControlRecord {
  return {
    v: 1,
    id: ID,
    arrival: NOW - 3_600_000,
    uid: 1000,
    user: 'alice',
    sender: 'cron@example.com',
    recipients: [
      { address: 'root@example.com', status: 'deferred', reason: 'connect refused', dsn: '4.4.1' },
      { address: 'ops@example.org', status: 'sent', dsn: '2.0.0', relay: 'smtp.example.com[192.0.2.1]:587' },
    ],
    body: '7BIT',
    smtputf8: false,
    size: 1234,
    origin: 'sendmail',
    attempts: 2,
    nextAttempt: NOW + 600_000,
    hold: false,
    history: [{ time: NOW - 3_600_000, event: 'queued', detail: 'uid=1000' }],
    ...over,
  };
}
