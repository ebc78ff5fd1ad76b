// Words (never colour alone) for board statuses, due states, check-ins and alerts.

import type { AckView, AlertHistoryItem, AlertView, BoardStatus, CheckInStatus } from './types';

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

/** One line of an alert's history, e.g. "Sam took it over from Bob", "Told the leads: Mo, Sam". */
export function historyLine(h: AlertHistoryItem): string {
  const by = h.by_name ?? 'Someone';
  const group: Record<string, string> = { worker: 'the worker', buddies: 'the buddies', leads: 'the leads' };
  switch (h.action) {
    case 'opened':
      return 'Opened';
    case 'step': {
      const who = h.told.length > 0 ? `: ${h.told.join(', ')}` : ' (nobody to tell)';
      return `Told ${group[h.text ?? ''] ?? h.text ?? 'someone'}${who}`;
    }
    case 'reply':
      return h.text ? `${by} replied: “${h.text}”` : `${by} acknowledged the check-in`;
    case 'claimed':
      return `${by} claimed it`;
    case 'taken_over':
      return h.to_name ? `${by} took it over from ${h.to_name}` : `${by} took it over`;
    case 'assigned':
      return `${by} gave it to ${h.to_name ?? 'someone'}`;
    case 'resolved':
      return h.by_name ? `${by} resolved it${h.text ? `: “${h.text}”` : ''}` : `Resolved: ${h.text ?? 'no longer applies'}`;
    default:
      return humanize(String(h.action));
  }
}
