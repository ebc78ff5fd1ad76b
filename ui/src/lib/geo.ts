// Location for a check-in, only at the precision the worker chose. "coarse" is rounded here,
// before it leaves the page (2 decimals ≈ 1 km); the engine also reduces what it is given to the
// precision in the settings.

import type { LocationPrecision } from './types';

export type Coords = { lat: number; lon: number };

/** Rounds a position to the chosen precision; null for "none". */
export function atPrecision(c: Coords, precision: LocationPrecision): Coords | null {
  switch (precision) {
    case 'precise':
      return { lat: round(c.lat, 5), lon: round(c.lon, 5) };
    case 'coarse':
      return { lat: round(c.lat, 2), lon: round(c.lon, 2) };
    default:
      return null;
  }
}

export const PRECISION_LABEL: Record<LocationPrecision, { label: string; hint: string }> = {
  none: { label: 'Off', hint: 'No location is shared.' },
  coarse: { label: 'Area', hint: 'Rounded to about a kilometre.' },
  precise: { label: 'Exact', hint: 'As measured by this device.' },
};

/**
 * The current position at `precision`, or null (none, refused, unavailable, or slower than
 * `timeoutMs`: a check-in never waits long for a location).
 */
export function currentPosition(precision: LocationPrecision, timeoutMs = 4000): Promise<Coords | null> {
  if (precision === 'none') return Promise.resolve(null);
  const geo = typeof navigator === 'undefined' ? undefined : navigator.geolocation;
  if (!geo) return Promise.resolve(null);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), timeoutMs + 500);
    geo.getCurrentPosition(
      (p) => {
        clearTimeout(timer);
        resolve(atPrecision({ lat: p.coords.latitude, lon: p.coords.longitude }, precision));
      },
      () => {
        clearTimeout(timer);
        resolve(null);
      },
      { enableHighAccuracy: precision === 'precise', timeout: timeoutMs, maximumAge: 120_000 },
    );
  });
}

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}
