// Validation for the start-shift and extend forms (pure).

import type { PolicyView } from './types';
import { formatInterval } from './time';

export type Bounds = { min: number; max: number; def: number };

/** The policy's interval limits in whole minutes (defaults when the policy is not known yet). */
export function intervalBounds(p: PolicyView | null | undefined): Bounds {
  if (!p) return { min: 5, max: 24 * 60, def: 60 };
  const min = Math.ceil(p.min_interval_s / 60);
  const max = Math.max(min, Math.floor(p.max_interval_s / 60));
  const def = Math.min(max, Math.max(min, Math.round(p.default_interval_s / 60)));
  return { min, max, def };
}

/** Minutes as typed → seconds, or a message naming the allowed range. */
export function checkInterval(text: string | number | null, b: Bounds): { seconds: number } | { error: string } {
  // A bound <input type="number"> gives a number (or null when empty), a text field a string.
  const t = text === null ? '' : String(text).trim();
  const n = Number(t);
  if (!t || !Number.isFinite(n) || !Number.isInteger(n)) {
    return { error: `Enter the interval in whole minutes, between ${b.min} and ${b.max}.` };
  }
  if (n < b.min || n > b.max) {
    return {
      error: `Your team's policy allows check-ins every ${formatInterval(b.min * 60)} to ${formatInterval(b.max * 60)}: enter ${b.min} to ${b.max} minutes.`,
    };
  }
  return { seconds: n * 60 };
}

/** The extend form: a new end after now, and a reason. */
export function checkExtension(
  newEnd: number | null,
  reason: string,
  now: number,
): { ok: { new_end: number; reason: string } } | { error: string; field: 'end' | 'reason' } {
  if (newEnd === null) return { error: 'Enter the new planned end as a time, e.g. 18:30.', field: 'end' };
  if (newEnd <= now) return { error: 'The new planned end must be in the future.', field: 'end' };
  const r = reason.trim();
  if (!r) return { error: 'Say why in a few words, e.g. "Visit is running late".', field: 'reason' };
  return { ok: { new_end: newEnd, reason: r } };
}
