/**
 * runner/fallbacks.ts — a slot's session to a relay, else to its fallbacks in order
 * (relay.NAME.fallbacks) when the failure is about reaching it (connection, TLS, timeout, 421);
 * never after an AUTH or a configuration problem, which another relay would not fix silently,
 * and never to a fallback weaker than a relay that failed TLS (relay/fallback.ts).
 */
import type { Config } from '../config/config.js';
import type { Log } from '../log/log.js';
import { weakerFallback } from '../relay/fallback.js';
import { classify } from './classify.js';
import type { Slot } from './pool.js';
import type { RelaySessions, SessionOrFailure } from './relay-sessions.js';

/** The relay used (`first` or a fallback) and its session, or the first relay's failure. */
export async function sessionWithFallbacks(
  sessions: RelaySessions,
  opts: { config: Config; log: Log },
  slot: Slot,
  first: string,
): Promise<{ name: string; s: SessionOrFailure }> {
  let s = await sessions.session(slot, first);
  if (!('failure' in s)) return { name: first, s };
  const tried = new Set([first]);
  const relays = opts.config.relays ?? {};
  // Relays that failed for TLS reasons: no fallback weaker than one of them (relay/fallback.ts).
  const tlsFailed: string[] = [];
  let current = first;
  for (const fb of relays[first]?.fallbacks ?? []) {
    const code = s.failure.code ?? '';
    if (code === 'EAUTH' || code === 'ECONFIG' || tried.has(fb)) break;
    tried.add(fb);
    const failed = classify(s.failure, s.peer);
    if (failed.dsn === '4.7.5' && relays[current] && !tlsFailed.includes(current)) tlsFailed.push(current);
    const weaker = relays[fb] ? tlsFailed.map((n) => weakerFallback(relays[fb]!, relays[n]!)).find((w) => w) : undefined;
    if (weaker) {
      opts.log.line(null, `relay ${first} failed TLS (${failed.reason}); not used: ${weaker}`, 'warning');
      continue;
    }
    current = fb;
    const next = await sessions.session(slot, fb);
    if (!('failure' in next)) {
      opts.log.line(null, `relay ${first} failed (${failed.reason}); using fallback ${fb}`, 'warning');
      return { name: fb, s: next };
    }
    s = next;
  }
  return { name: first, s };
}
