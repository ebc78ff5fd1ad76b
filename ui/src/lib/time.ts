// Times and durations as people read them. Pure functions: `now` is always passed in.
// Clock times and dates go through Intl in the user's locale and time zone; durations are short
// English phrases ("1 h 05 min") since the UI's words are English.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** A non-negative span as "45 s", "12 min", "1 h 05 min", "2 d 3 h". */
export function formatSpan(ms: number): string {
  const abs = Math.max(0, Math.abs(ms));
  if (abs < MINUTE) return `${Math.floor(abs / 1000)} s`;
  if (abs < HOUR) return `${Math.floor(abs / MINUTE)} min`;
  if (abs < DAY) {
    const h = Math.floor(abs / HOUR);
    const m = Math.floor((abs % HOUR) / MINUTE);
    return m === 0 ? `${h} h` : `${h} h ${String(m).padStart(2, '0')} min`;
  }
  const d = Math.floor(abs / DAY);
  const h = Math.floor((abs % DAY) / HOUR);
  return h === 0 ? `${d} d` : `${d} d ${h} h`;
}

/** A duration given in seconds, e.g. a check-in interval: "30 min", "1 h 30 min". */
export function formatInterval(seconds: number): string {
  return formatSpan(seconds * 1000);
}

export type Countdown = { past: boolean; text: string; ms: number };

/** How far `target` is from `now`: "in 12 min" or "3 min ago". */
export function countdown(target: number, now: number): Countdown {
  const ms = target - now;
  if (ms >= 0) return { past: false, ms, text: `in ${formatSpan(ms)}` };
  return { past: true, ms, text: `${formatSpan(-ms)} ago` };
}

/** The worker's next check-in, for the big line on My shift. */
export function nextDueText(nextDue: number | null, now: number): string {
  if (nextDue === null) return 'No check-in due';
  const ms = nextDue - now;
  if (ms > 0) return `Next check-in in ${formatSpan(ms)}`;
  if (ms > -MINUTE) return 'Check-in due now';
  return `Check-in overdue by ${formatSpan(-ms)}`;
}

/** The planned end, for the countdown on My shift ("Back by 17:30, in 2 h 10 min"). */
export function plannedEndText(plannedEnd: number, now: number, clock: (ms: number) => string): string {
  const ms = plannedEnd - now;
  if (ms >= 0) return `Back by ${clock(plannedEnd)}, in ${formatSpan(ms)}`;
  return `Planned end ${clock(plannedEnd)} passed ${formatSpan(-ms)} ago`;
}

/** "just now", "5 min ago", "2 h ago", then a clock time or date via `clock`/`date`. */
export function relativeTime(
  t: number,
  now: number,
  fmt: { clock: (ms: number) => string; dateTime: (ms: number) => string } = defaultFormatter(),
): string {
  const ms = now - t;
  if (ms < 0) {
    // A device clock ahead of ours: say the time rather than "in 2 min" for something past.
    return fmt.clock(t);
  }
  if (ms < MINUTE) return 'just now';
  if (ms < HOUR) return `${Math.floor(ms / MINUTE)} min ago`;
  if (ms < 6 * HOUR) return `${Math.floor(ms / HOUR)} h ago`;
  if (sameDay(t, now)) return `today ${fmt.clock(t)}`;
  return fmt.dateTime(t);
}

function sameDay(a: number, b: number): boolean {
  const x = new Date(a);
  const y = new Date(b);
  return x.getFullYear() === y.getFullYear() && x.getMonth() === y.getMonth() && x.getDate() === y.getDate();
}

export type Formatter = {
  clock: (ms: number) => string;
  dateTime: (ms: number) => string;
  date: (ms: number) => string;
};

/** Intl formatters in the user's locale and time zone (or the given ones, for tests). */
export function defaultFormatter(locale?: string, timeZone?: string): Formatter {
  const clock = new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit', timeZone });
  const dateTime = new Intl.DateTimeFormat(locale, {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    timeZone,
  });
  const date = new Intl.DateTimeFormat(locale, { weekday: 'short', day: 'numeric', month: 'short', timeZone });
  return {
    clock: (ms) => clock.format(ms),
    dateTime: (ms) => dateTime.format(ms),
    date: (ms) => date.format(ms),
  };
}

/**
 * The next moment at "HH:MM" local time after `now` (today, or tomorrow if that has passed):
 * the planned end picked with a time field. Returns null for a malformed value.
 */
export function nextOccurrence(hhmm: string, now: number): number | null {
  const m = /^(\d{1,2}):(\d{2})(?::\d{2}(?:\.\d+)?)?$/.exec(hhmm.trim());
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (h > 23 || min > 59) return null;
  const d = new Date(now);
  d.setHours(h, min, 0, 0);
  if (d.getTime() <= now) d.setDate(d.getDate() + 1);
  return d.getTime();
}

/** "HH:MM" in local time, the value of an <input type="time">. */
export function toTimeInput(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** Rounds up to the next quarter hour: default planned ends look like times people say. */
export function roundUpQuarter(ms: number): number {
  const q = 15 * MINUTE;
  return Math.ceil(ms / q) * q;
}

/** "today", "tomorrow" or the date, for the hint under the planned-end field. */
export function dayWord(t: number, now: number, date: (ms: number) => string): string {
  if (sameDay(t, now)) return 'today';
  if (sameDay(t, now + DAY)) return 'tomorrow';
  return date(t);
}
