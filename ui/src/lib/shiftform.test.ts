import { describe, expect, it } from 'vitest';
import { checkExtension, checkInterval, intervalBounds } from './shiftform';

const policy = { min_interval_s: 900, max_interval_s: 14_400, default_interval_s: 3600, grace_s: 300, reminder_lead_s: 300 };

describe('interval', () => {
  it('reads the policy in minutes', () => {
    expect(intervalBounds(policy)).toEqual({ min: 15, max: 240, def: 60 });
    expect(intervalBounds(null).def).toBe(60);
  });
  it('accepts minutes inside the policy and names the range otherwise', () => {
    const b = intervalBounds(policy);
    expect(checkInterval('30', b)).toEqual({ seconds: 1800 });
    expect(checkInterval(' 15 ', b)).toEqual({ seconds: 900 });
    expect(checkInterval('10', b)).toEqual({ error: expect.stringContaining('15 to 240 minutes') });
    expect(checkInterval('241', b)).toHaveProperty('error');
    expect(checkInterval('abc', b)).toHaveProperty('error');
    expect(checkInterval('', b)).toHaveProperty('error');
    expect(checkInterval('20.5', b)).toHaveProperty('error');
    expect(checkInterval(45, b)).toEqual({ seconds: 2700 });
    expect(checkInterval(null, b)).toHaveProperty('error');
  });
});

describe('extension', () => {
  it('needs a future end and a reason', () => {
    expect(checkExtension(null, 'x', 0)).toMatchObject({ field: 'end' });
    expect(checkExtension(5, 'x', 10)).toMatchObject({ field: 'end' });
    expect(checkExtension(20, '  ', 10)).toMatchObject({ field: 'reason' });
    expect(checkExtension(20, ' late visit ', 10)).toEqual({ ok: { new_end: 20, reason: 'late visit' } });
  });
});
