import { describe, expect, it } from 'vitest';
import {
  countdown,
  dayWord,
  defaultFormatter,
  formatInterval,
  formatSpan,
  nextDueText,
  nextOccurrence,
  plannedEndText,
  relativeTime,
  roundUpQuarter,
  toTimeInput,
} from './time';

const MIN = 60_000;
const H = 60 * MIN;

describe('formatSpan', () => {
  it('uses seconds, minutes, hours and days', () => {
    expect(formatSpan(45_000)).toBe('45 s');
    expect(formatSpan(12 * MIN + 59_000)).toBe('12 min');
    expect(formatSpan(H + 5 * MIN)).toBe('1 h 05 min');
    expect(formatSpan(3 * H)).toBe('3 h');
    expect(formatSpan(2 * 24 * H + 3 * H + 10 * MIN)).toBe('2 d 3 h');
    expect(formatSpan(-5 * MIN)).toBe('5 min');
  });
  it('formats intervals given in seconds', () => {
    expect(formatInterval(1800)).toBe('30 min');
    expect(formatInterval(5400)).toBe('1 h 30 min');
  });
});

describe('countdown', () => {
  it('says in or ago', () => {
    expect(countdown(1_000 + 12 * MIN, 1_000)).toEqual({ past: false, ms: 12 * MIN, text: 'in 12 min' });
    expect(countdown(0, 3 * MIN)).toEqual({ past: true, ms: -3 * MIN, text: '3 min ago' });
  });
});

describe('nextDueText', () => {
  it('counts down, says due now within a minute, then overdue', () => {
    expect(nextDueText(null, 0)).toBe('No check-in due');
    expect(nextDueText(10 * MIN, 0)).toBe('Next check-in in 10 min');
    expect(nextDueText(0, 30_000)).toBe('Check-in due now');
    expect(nextDueText(0, 4 * MIN)).toBe('Check-in overdue by 4 min');
  });
});

describe('plannedEndText', () => {
  const clock = () => '17:30';
  it('shows the time and what is left, or how long ago it passed', () => {
    expect(plannedEndText(2 * H + 10 * MIN, 0, clock)).toBe('Back by 17:30, in 2 h 10 min');
    expect(plannedEndText(0, 20 * MIN, clock)).toBe('Planned end 17:30 passed 20 min ago');
  });
});

describe('relativeTime', () => {
  const fmt = { clock: () => 'CLOCK', dateTime: () => 'DATETIME' };
  it('is relative for recent times and absolute for older ones', () => {
    const now = new Date(2025, 5, 10, 20, 0).getTime();
    expect(relativeTime(now - 10_000, now, fmt)).toBe('just now');
    expect(relativeTime(now - 5 * MIN, now, fmt)).toBe('5 min ago');
    expect(relativeTime(now - 2 * H, now, fmt)).toBe('2 h ago');
    expect(relativeTime(now - 7 * H, now, fmt)).toBe('today CLOCK');
    expect(relativeTime(now - 30 * H, now, fmt)).toBe('DATETIME');
    expect(relativeTime(now + 5 * MIN, now, fmt)).toBe('CLOCK');
  });
});

describe('Intl formatter', () => {
  it('formats in the given locale and time zone', () => {
    const f = defaultFormatter('en-GB', 'UTC');
    expect(f.clock(Date.UTC(2025, 0, 2, 14, 2))).toBe('14:02');
    const us = defaultFormatter('en-US', 'America/New_York');
    expect(us.clock(Date.UTC(2025, 0, 2, 14, 2))).toMatch(/09:02\s?AM/);
  });
});

describe('planned end input', () => {
  it('picks today or tomorrow', () => {
    const now = new Date(2025, 5, 10, 9, 0).getTime();
    expect(nextOccurrence('17:30', now)).toBe(new Date(2025, 5, 10, 17, 30).getTime());
    expect(nextOccurrence('08:00', now)).toBe(new Date(2025, 5, 11, 8, 0).getTime());
    expect(nextOccurrence('09:00', now)).toBe(new Date(2025, 5, 11, 9, 0).getTime());
    expect(nextOccurrence('17:30:00', now)).toBe(new Date(2025, 5, 10, 17, 30).getTime());
  });
  it('refuses malformed times', () => {
    expect(nextOccurrence('25:00', 0)).toBeNull();
    expect(nextOccurrence('noon', 0)).toBeNull();
    expect(nextOccurrence('', 0)).toBeNull();
  });
  it('round-trips HH:MM and rounds to quarters', () => {
    const t = new Date(2025, 5, 10, 7, 5).getTime();
    expect(toTimeInput(t)).toBe('07:05');
    expect(toTimeInput(roundUpQuarter(t))).toBe('07:15');
    expect(roundUpQuarter(new Date(2025, 5, 10, 7, 15).getTime())).toBe(new Date(2025, 5, 10, 7, 15).getTime());
  });
  it('names the day', () => {
    const now = new Date(2025, 5, 10, 9, 0).getTime();
    const date = () => 'DATE';
    expect(dayWord(now + H, now, date)).toBe('today');
    expect(dayWord(now + 20 * H, now, date)).toBe('tomorrow');
    expect(dayWord(now + 50 * H, now, date)).toBe('DATE');
  });
});
