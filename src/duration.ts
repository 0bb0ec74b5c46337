/**
 * duration.ts — the one reader of durations: "30s", "15m", "1h30m", "1.5h", "2d", "1w". Pure and
 * without imports, because the sendmail flag table (cli/flags.ts, -q15m) is on the submit path.
 * Its other readers: the configuration file (config/reader.ts: timeouts, retry_schedule, ...),
 * `outbox queue ... --older-than` (queue/manage.ts) and `outbox check --queue --max-age`.
 *
 * Notation: one or more NUMBER UNIT parts ("1h30m", "1h 30m"); NUMBER is digits with an optional
 * decimal fraction; UNIT is ms, s, m (minutes), h, d or w, in lower case. A bare number has the
 * unit its caller names: seconds in the file and the queue commands, minutes for -q, as sendmail.
 * Each caller keeps its own limits (a retry step or --max-age of 0 is refused there, not here).
 */

export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd' | 'w';

const MS: Record<DurationUnit, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds (rounded), or null when `text` is not a duration (or is beyond 2^53 ms). */
export function parseDuration(text: string, bareUnit: DurationUnit = 's'): number | null {
  const t = text.trim();
  let ms = 0;
  if (/^\d+(\.\d+)?$/.test(t)) ms = Number(t) * MS[bareUnit];
  else {
    const part = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*/y;
    let m: RegExpExecArray | null;
    while (part.lastIndex < t.length && (m = part.exec(t)) !== null) ms += Number(m[1]) * MS[m[2] as DurationUnit];
    if (t === '' || part.lastIndex !== t.length) return null;
  }
  const rounded = Math.round(ms);
  return Number.isSafeInteger(rounded) ? rounded : null;
}
