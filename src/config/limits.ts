/**
 * config/limits.ts — what a relay's sending limits are: `rate`, `daily_messages`,
 * `daily_recipients` and the `limits` presets. Pure.
 *
 * Presets, from the providers' published limits (the explicit keys override them):
 *   gmail          500 messages a day (Gmail sending limits, free accounts)
 *   workspace      2,000 messages a day (Google Workspace sending limits)
 *   microsoft365   30 messages a minute, 10,000 recipients a day (Exchange Online limits)
 *   ses-sandbox    1 message a second, 200 messages a day (Amazon SES sandbox)
 * The counting and waiting is runner/limits.ts.
 */
import type { RelaySettings } from './types.js';

export const LIMIT_PRESETS = {
  gmail: { dailyMessages: 500 },
  workspace: { dailyMessages: 2000 },
  microsoft365: { rate: '30/min', dailyRecipients: 10_000 },
  'ses-sandbox': { rate: '1/s', dailyMessages: 200 },
} as const satisfies Record<string, Pick<RelaySettings, 'rate' | 'dailyMessages' | 'dailyRecipients'>>;

export type LimitPreset = keyof typeof LIMIT_PRESETS;
export const LIMIT_PRESET_NAMES = Object.keys(LIMIT_PRESETS) as LimitPreset[];

export interface RelayLimits {
  /** `rate` as written ("30/min"), for messages. */
  rate?: string;
  /** The smallest spacing between two messages, from `rate`. */
  intervalMs?: number;
  dailyMessages?: number;
  dailyRecipients?: number;
}

const UNITS: Record<string, number> = {
  s: 1000,
  sec: 1000,
  second: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  h: 3600_000,
  hour: 3600_000,
  d: 86_400_000,
  day: 86_400_000,
};

/** "30/min", "1/s", "5/s", "100/hour", "2000/day": the spacing between messages in ms, or null. */
export function parseRate(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*\/\s*([a-z]+)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  const n = m ? Number(m[1]) : 0;
  if (!unit || !(n > 0)) return null;
  return unit / n;
}

/** A relay's limits (its preset, then its own keys), or undefined when it has none. */
export function relayLimits(s: Pick<RelaySettings, 'limits' | 'rate' | 'dailyMessages' | 'dailyRecipients'> | undefined): RelayLimits | undefined {
  if (!s) return undefined;
  const preset: Partial<Pick<RelaySettings, 'rate' | 'dailyMessages' | 'dailyRecipients'>> = s.limits ? LIMIT_PRESETS[s.limits] : {};
  const rate = s.rate ?? preset.rate;
  const dailyMessages = s.dailyMessages ?? preset.dailyMessages;
  const dailyRecipients = s.dailyRecipients ?? preset.dailyRecipients;
  const intervalMs = rate !== undefined ? parseRate(rate) : null;
  if (intervalMs === null && dailyMessages === undefined && dailyRecipients === undefined) return undefined;
  return {
    ...(rate !== undefined && intervalMs !== null ? { rate, intervalMs } : {}),
    ...(dailyMessages !== undefined ? { dailyMessages } : {}),
    ...(dailyRecipients !== undefined ? { dailyRecipients } : {}),
  };
}
