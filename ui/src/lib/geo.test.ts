import { describe, expect, it } from 'vitest';
import { atPrecision, currentPosition } from './geo';

describe('location precision', () => {
  const c = { lat: 51.507351, lon: -0.127758 };
  it('rounds an area to about a kilometre and shares nothing when off', () => {
    expect(atPrecision(c, 'coarse')).toEqual({ lat: 51.51, lon: -0.13 });
    expect(atPrecision(c, 'precise')).toEqual({ lat: 51.50735, lon: -0.12776 });
    expect(atPrecision(c, 'none')).toBeNull();
  });
  it('never asks for a position when off', async () => {
    expect(await currentPosition('none')).toBeNull();
  });
});
