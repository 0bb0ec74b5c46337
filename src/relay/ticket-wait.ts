/**
 * relay/ticket-wait.ts — after STARTTLS under TLS 1.3, hold the first EHLO until the relay's session
 * ticket has arrived (or a short bound has passed). relay/connect.ts applies it to each connection (delivery and outbox check alike).
 *
 * Why: a TLS 1.3 server sends its NewSessionTicket as soon as it reads the client's Finished.
 * nodemailer writes EHLO in the handshake callback, before that ticket arrives, so the EHLO carries
 * no ACK for it; the relay's EHLO reply then waits behind Nagle's algorithm for that ACK, which the
 * client's kernel delays (delayed ACK, 40 ms on Linux). Measured against Postfix 3.7 on loopback:
 * the EHLO round trip after the handshake took 42-45 ms, and 0.1 ms when written after the ticket,
 * which it then acknowledges (bench/latency.ts prints both). Under TLS 1.2 the ticket is part of
 * the handshake: nothing to wait for.
 *
 * Bounded: the ticket is due one round trip after the handshake ends, and the handshake itself took
 * about one round trip; a relay that sends no ticket costs the handshake's duration, at least
 * MIN_WAIT_MS and at most MAX_WAIT_MS (the stall it avoids is 40 ms). Nothing here touches the
 * bytes or the order of the SMTP dialogue, only when nodemailer resumes it.
 */
import type { TLSSocket } from 'node:tls';

const MIN_WAIT_MS = 5;
const MAX_WAIT_MS = 50;

/** How long to wait for a ticket after a handshake that took handshakeMs. */
export function ticketWaitMs(handshakeMs: number): number {
  return Math.min(MAX_WAIT_MS, Math.max(MIN_WAIT_MS, Math.ceil(handshakeMs)));
}

type Upgraded = (err: Error | null, secured?: boolean) => void;
interface Upgradable {
  _socket: unknown;
  _upgradeConnection?: (callback: Upgraded) => void;
}

/** Make this nodemailer SMTPConnection resume after STARTTLS once the TLS 1.3 ticket is in. */
export function waitForTicketAfterStarttls(conn: object): void {
  const c = conn as Upgradable;
  const upgrade = c._upgradeConnection;
  if (typeof upgrade !== 'function') return; // another nodemailer: it goes on as before
  c._upgradeConnection = function (this: Upgradable, callback: Upgraded) {
    const plain = this._socket;
    const started = performance.now();
    let ticket = false;
    let onTicket: (() => void) | undefined;
    upgrade.call(this, (err, secured) => {
      const sock = this._socket as TLSSocket;
      if (err || !secured || ticket || sock.getProtocol() !== 'TLSv1.3') return callback(err, secured);
      let done = false;
      const resume = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        callback(null, secured);
      };
      const timer = setTimeout(resume, ticketWaitMs(performance.now() - started));
      // Not from inside the 'session' event: a write made there is not sent (seen on Node 26).
      onTicket = () => setImmediate(resume);
    });
    // tls.connect() replaced the plain socket synchronously (unless it threw: callback done).
    const sock = this._socket;
    if (sock !== plain && sock && typeof (sock as TLSSocket).getProtocol === 'function') {
      (sock as TLSSocket).once('session', () => {
        ticket = true;
        onTicket?.();
      });
    }
  };
}
