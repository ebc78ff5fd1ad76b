import { describe, expect, it } from 'vitest';
import type { AlertHistoryItem, AlertView } from './types';
import {
  ackLine,
  alertKind,
  alertOwner,
  boardStatus,
  checkinStatus,
  notifiedText,
  resolutionText,
  historyLine,
} from './urgency';

const clock = (ms: number) => `T${ms}`;

function alert(over: Partial<AlertView> = {}): AlertView {
  return {
    id: 'a',
    kind: 'missed_checkin',
    urgent: false,
    state: 'open',
    team: 't',
    shift: 's',
    worker: 'w',
    worker_name: 'Alice',
    opened_at: 1,
    due: null,
    checkin: null,
    steps_fired: 0,
    notified: [],
    next_step_at: null,
    claimed_by: null,
    claimed_by_name: null,
    claimed_at: null,
    resolved_at: null,
    resolved_by: null,
    resolving_checkin: null,
    late_checkin: false,
    note: null,
    worker_phone: null,
    said: null,
    history: [],
    ...over,
  } as AlertView;
}

describe('board statuses', () => {
  it('has words and tones for each status (the order is the server\'s)', () => {
    expect(boardStatus('emergency')).toEqual({ label: 'Emergency', tone: 'danger' });
    expect(boardStatus('off_shift').label).toBe('Off shift');
    expect(boardStatus('something_new').label).toBe('Something new');
  });
  it('labels check-ins and alert kinds', () => {
    expect(checkinStatus('ok').label).toBe('OK');
    expect(alertKind('past_planned_end')).toBe('Past planned end');
    expect(alertKind('new_kind')).toBe('New kind');
  });
});

describe('alert owner and resolution', () => {
  it('says who owns an alert', () => {
    expect(alertOwner(alert(), clock)).toBe('Open: nobody has claimed it yet');
    expect(alertOwner(alert({ state: 'claimed', claimed_by_name: 'Sam', claimed_at: 5 }), clock)).toBe(
      'Claimed by Sam at T5',
    );
    expect(alertOwner(alert({ state: 'resolved', resolved_at: 9, claimed_by_name: 'Sam' }), clock)).toBe(
      'Resolved at T9 (owned by Sam)',
    );
  });
  it('is honest about a late check-in', () => {
    const a = alert({
      resolved_by: 'check_in',
      late_checkin: true,
      resolving_checkin: { checkin: 'c', device_time: 10, received_at: 20, effective_at: 10 },
    });
    expect(resolutionText(a, clock)).toBe('A check-in made at T10 arrived late, at T20');
    expect(resolutionText(alert({ resolved_by: 'claimer', note: 'phoned' }), clock)).toBe(
      'Resolved with a note: phoned',
    );
    expect(resolutionText(alert(), clock)).toBeNull();
  });
  it('lists who was told', () => {
    expect(notifiedText([])).toBe('Nobody told yet');
    expect(notifiedText(['worker', 'buddies'])).toBe('Told so far: the worker, buddies');
  });
});

describe('ackLine', () => {
  it('shows who saw it, when, and the reply', () => {
    expect(ackLine({ id: 'x', by: 'b', by_name: 'Sam', at: 3, reply: 'thanks!' }, clock)).toBe(
      'Seen by Sam, T3 — thanks!',
    );
    expect(ackLine({ id: 'x', by: 'b', by_name: 'Sam', at: 3, reply: '  ' }, clock)).toBe('Seen by Sam, T3');
    expect(ackLine({ id: 'x', by: 'b', by_name: 'Sam', at: 3, reply: null }, clock)).toBe('Seen by Sam, T3');
  });
});

describe('alert history', () => {
  const item = (over: Partial<AlertHistoryItem>): AlertHistoryItem =>
    ({ at: 1, action: 'opened', by_name: null, to_name: null, told: [], text: null, ...over }) as AlertHistoryItem;
  it('says who did what, in words', () => {
    expect(historyLine(item({ action: 'step', text: 'leads', told: ['Mo', 'Sam'] }))).toBe('Told the leads: Mo, Sam');
    expect(historyLine(item({ action: 'taken_over', by_name: 'Mo', to_name: 'Bob' }))).toBe('Mo took it over from Bob');
    expect(historyLine(item({ action: 'assigned', by_name: 'Sam', to_name: 'Bob' }))).toBe('Sam gave it to Bob');
    expect(historyLine(item({ action: 'reply', by_name: 'Sam', text: 'Calling you' }))).toBe('Sam replied: “Calling you”');
    expect(historyLine(item({ action: 'resolved', text: 'the shift ended' }))).toBe('Resolved: the shift ended');
    expect(historyLine(item({ action: 'resolved', by_name: 'Mo', text: 'Safe' }))).toBe('Mo resolved it: “Safe”');
  });
});
