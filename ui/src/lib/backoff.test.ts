import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay } from './backoff';

describe('backoffDelay', () => {
  it('doubles and stays within [d/2, d)', () => {
    const lo = { base: 1000, max: 30_000, random: () => 0 };
    const hi = { base: 1000, max: 30_000, random: () => 0.999999 };
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, lo))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffDelay(0, hi)).toBeLessThanOrEqual(1000);
    expect(backoffDelay(0, hi)).toBeGreaterThan(990);
  });
  it('caps at max, even for huge attempt numbers', () => {
    expect(backoffDelay(10, { base: 1000, max: 30_000, random: () => 0 })).toBe(15_000);
    expect(backoffDelay(1e6, { base: 1000, max: 30_000, random: () => 0.5 })).toBe(22_500);
  });
  it('spreads clients out (jitter)', () => {
    let i = 0;
    const seq = [0.1, 0.9];
    const random = () => seq[i++ % 2]!;
    const a = backoffDelay(3, { random });
    const b = backoffDelay(3, { random });
    expect(a).not.toBe(b);
  });
});

describe('Backoff', () => {
  it('grows per attempt and resets after a healthy connection', () => {
    const b = new Backoff({ base: 100, max: 1000, random: () => 0, resetAfter: 5000 });
    expect([b.next(), b.next(), b.next()]).toEqual([50, 100, 200]);
    b.dropped(1000);
    expect(b.next()).toBe(400);
    b.dropped(6000);
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(50);
  });
});
