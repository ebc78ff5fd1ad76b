import { describe, expect, it } from 'vitest';
import { percent, rateBars, sparkline, trendWord } from './chart';

describe('sparkline', () => {
  it('maps time to x and rating to y (5 at the top, 1 at the bottom)', () => {
    const s = sparkline(
      [
        [100, 1],
        [300, 5],
        [200, 3],
      ],
      104,
      24,
    );
    expect(s.points).toEqual([
      { x: 2, y: 22 },
      { x: 52, y: 12 },
      { x: 102, y: 2 },
    ]);
    expect(s.path).toBe('M2 22 L52 12 L102 2');
    expect(s.last).toEqual({ x: 102, y: 2 });
  });
  it('copes with no samples, one sample, same times and out-of-range values', () => {
    expect(sparkline([], 100, 20)).toEqual({ path: '', points: [], last: null });
    expect(sparkline([[5, 3]], 104, 24).points).toEqual([{ x: 52, y: 12 }]);
    expect(
      sparkline(
        [
          [5, 9],
          [5, -1],
        ],
        104,
        24,
      ).points,
    ).toEqual([
      { x: 2, y: 2 },
      { x: 102, y: 22 },
    ]);
  });
});

describe('rateBars', () => {
  it('scales rates to the width and stacks rows', () => {
    const { bars, height } = rateBars(
      [
        { label: 'Alice', value: 0.5 },
        { label: 'Bob', value: null },
        { label: 'Cy', value: 1.5 },
      ],
      200,
      10,
      5,
    );
    expect(bars.map((b) => [b.width, b.y, b.value])).toEqual([
      [100, 0, 0.5],
      [0, 15, null],
      [200, 30, 1],
    ]);
    expect(height).toBe(40);
    expect(rateBars([], 100).height).toBe(0);
  });
});

describe('percent and trend', () => {
  it('formats rates', () => {
    expect(percent(0.833)).toBe('83%');
    expect(percent(null)).toBe('—');
    expect(percent(undefined)).toBe('—');
  });
  it('reads a trend', () => {
    expect(trendWord([1, 2])).toBeNull();
    expect(trendWord([2, 2, 3, 4, 4, 5])).toBe('rising');
    expect(trendWord([5, 4, 4, 3, 2, 2])).toBe('falling');
    expect(trendWord([3, 3, 3])).toBe('steady');
  });
});
