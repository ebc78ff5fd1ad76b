import { describe, expect, it } from 'vitest';
import type { WorkerHealth } from './types';
import { factors } from './health';

const base: WorkerHealth = {
  member: 'm',
  shifts: 4,
  checkins: 9,
  on_time_checkins: 8,
  missed_checkins: 1,
  on_time_rate: 0.8,
  ended_shifts: 3,
  end_kept: 2,
  end_kept_rate: 2 / 3,
  with_purpose: 4,
  purpose_rate: 1,
  replies_received: 5,
  reply_median_delay: 240,
  confidence_avg: 3.75,
  confidence_trend: [
    [1, 3],
    [2, 4],
  ],
  active_connections: 3,
};

describe('factors', () => {
  it('gives all seven protective factors with figures', () => {
    const f = factors(base, { control: 'Location: off.' });
    expect(f.map((x) => x.key)).toEqual(['contact', 'boundaries', 'competence', 'control', 'purpose', 'inclusion', 'connections']);
    const by = Object.fromEntries(f.map((x) => [x.key, x]));
    expect(by.contact!.figure).toBe('80%');
    expect(by.contact!.count).toBe('8 of 10 check-ins');
    expect(by.boundaries!.count).toBe('2 of 3 shifts');
    expect(by.purpose!.count).toBe('4 of 4 shifts');
    expect(by.competence!.count).toBe('from 2 ratings');
    expect(by.contact!.detail).toBe('On time: by their due time plus grace; 1 never came.');
    expect(by.inclusion!.count).toBe('of 9 check-ins answered');
    expect(by.boundaries!.figure).toBe('67%');
    expect(by.competence!.figure).toBe('3.8 / 5');
    expect(by.control!.detail).toBe('Location: off.');
    expect(by.purpose!.figure).toBe('100%');
    expect(by.inclusion!.detail).toContain('median 4 min');
    expect(by.connections!.figure).toBe('3');
  });
  it('says when there is nothing to rate', () => {
    const empty: WorkerHealth = {
      ...base,
      shifts: 0,
      checkins: 0,
      on_time_checkins: 0,
      missed_checkins: 0,
      on_time_rate: null,
      ended_shifts: 0,
      end_kept_rate: null,
      purpose_rate: null,
      replies_received: 0,
      reply_median_delay: null,
      confidence_avg: null,
      confidence_trend: [],
    };
    const by = Object.fromEntries(factors(empty).map((x) => [x.key, x]));
    expect(by.contact!.figure).toBe('—');
    expect(by.contact!.count).toBe(null);
    expect(by.contact!.detail).toBe('No check-ins were due in this period.');
    expect(by.competence!.figure).toBe('—');
    expect(by.inclusion!.detail).toBe('No replies to your check-ins yet.');
  });
});

describe('rates in tables', () => {
  it('always come with their count', async () => {
    const { rateCell, ofCount } = await import('./health');
    expect(rateCell(3, 4)).toBe('75% (3 of 4)');
    expect(rateCell(0, 0)).toBe('—');
    expect(ofCount(1, 1, 'shift')).toBe('1 of 1 shift');
  });
});
