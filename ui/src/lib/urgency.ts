// Words (never colour alone) for board statuses, due states, check-ins and alerts.

import type { AckView, AlertView, BoardStatus, CheckInStatus, DueState } from './types';

/** A tone for styling; every tone is always paired with words. */
export type Tone = 'danger' | 'warn' | 'ok' | 'muted' | 'info';

const BOARD: Record<BoardStatus, { label: string; tone: Tone }> = {
  emergency: { label: 'Emergency', tone: 'danger' },
  support: { label: 'Asked for support', tone: 'warn' },
  overdue: { label: 'Overdue', tone: 'danger' },
  due_soon: { label: 'Due soon', tone: 'warn' },
  fine: { label: 'Fine', tone: 'ok' },
  off_shift: { label: 'Off shift', tone: 'muted' },
};

export function boardStatus(s: BoardStatus | string): { label: string; tone: Tone } {
  return BOARD[s as BoardStatus] ?? { label: humanize(s), tone: 'info' };
}

/** The board's urgency order; rows are shown in the order the backend gives, this is for tests and badges. */
export const URGENCY_ORDER: readonly BoardStatus[] = ['emergency', 'support', 'overdue', 'due_soon', 'fine', 'off_shift'];

export function urgencyRank(s: BoardStatus | string): number {
  const i = URGENCY_ORDER.indexOf(s as BoardStatus);
  return i < 0 ? URGENCY_ORDER.length : i;
}

/** Statuses that need someone to act, for the "N need attention" summary. */
export function needsAttention(s: BoardStatus | string): boolean {
  return s === 'emergency' || s === 'support' || s === 'overdue';
}

const DUE: Record<DueState, { label: string; tone: Tone }> = {
  fine: { label: 'On track', tone: 'ok' },
  due_soon: { label: 'Check-in due soon', tone: 'warn' },
  overdue: { label: 'Overdue', tone: 'danger' },
  off_shift: { label: 'Ended', tone: 'muted' },
};

export function dueState(s: DueState | string): { label: string; tone: Tone } {
  return DUE[s as DueState] ?? { label: humanize(s), tone: 'info' };
}

const CHECKIN: Record<CheckInStatus, { label: string; tone: Tone }> = {
  ok: { label: 'OK', tone: 'ok' },
  support: { label: 'Asked for support', tone: 'warn' },
  emergency: { label: 'Emergency', tone: 'danger' },
};

export function checkinStatus(s: CheckInStatus | string): { label: string; tone: Tone } {
  return CHECKIN[s as CheckInStatus] ?? { label: humanize(s), tone: 'info' };
}

const ALERT_KIND: Record<string, string> = {
  missed_checkin: 'Missed check-in',
  past_planned_end: 'Past planned end',
  support: 'Support requested',
  emergency: 'Emergency',
};

export function alertKind(kind: string): string {
  return ALERT_KIND[kind] ?? humanize(kind);
}

/** Who owns an alert, in words: "Open: nobody has claimed it", "Claimed by Sam at 14:02", "Resolved". */
export function alertOwner(a: AlertView, clock: (ms: number) => string): string {
  if (a.state === 'resolved' || a.resolved_at !== null) {
    const by = a.claimed_by_name ? ` (owned by ${a.claimed_by_name})` : '';
    return a.resolved_at !== null ? `Resolved at ${clock(a.resolved_at)}${by}` : `Resolved${by}`;
  }
  if (a.claimed_by_name) {
    return a.claimed_at !== null ? `Claimed by ${a.claimed_by_name} at ${clock(a.claimed_at)}` : `Claimed by ${a.claimed_by_name}`;
  }
  return 'Open: nobody has claimed it yet';
}

/** Who has been told so far: "Told: worker, buddies". */
export function notifiedText(notified: readonly string[]): string {
  if (notified.length === 0) return 'Nobody told yet';
  const words: Record<string, string> = { worker: 'the worker', buddies: 'buddies', leads: 'leads' };
  return `Told so far: ${notified.map((n) => words[n] ?? n).join(', ')}`;
}

/** How an alert was resolved, honest about late check-ins. */
export function resolutionText(a: AlertView, clock: (ms: number) => string): string | null {
  if (!a.resolved_by) return null;
  switch (a.resolved_by) {
    case 'check_in':
      if (a.late_checkin && a.resolving_checkin) {
        return `A check-in made at ${clock(a.resolving_checkin.device_time)} arrived late, at ${clock(a.resolving_checkin.received_at)}`;
      }
      return 'Resolved by a new check-in';
    case 'end':
      return 'Resolved: the shift ended';
    case 'extension':
      return 'Resolved: the planned end was extended';
    case 'claimer':
      return a.note ? `Resolved with a note: ${a.note}` : 'Resolved by the person who claimed it';
    default:
      return `Resolved (${humanize(a.resolved_by)})`;
  }
}

/** A lead's or buddy's acknowledgement, e.g. "Seen by Sam, 14:02 — thanks!". */
export function ackLine(ack: AckView, clock: (ms: number) => string): string {
  const reply = ack.reply?.trim();
  return `Seen by ${ack.by_name}, ${clock(ack.at)}${reply ? ` — ${reply}` : ''}`;
}

/** A rating 1-5 in words, for mood and "on top of things". */
export function ratingWord(kind: 'mood' | 'confidence', r: number): string {
  const mood = ['', 'Low', 'Meh', 'OK', 'Good', 'Great'];
  const conf = ['', 'Struggling', 'Stretched', 'Managing', 'On top of it', 'Fully on top'];
  const words = kind === 'mood' ? mood : conf;
  return words[r] ?? String(r);
}

export function humanize(s: string): string {
  const t = s.replace(/_/g, ' ');
  return t.charAt(0).toUpperCase() + t.slice(1);
}
