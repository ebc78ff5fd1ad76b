import { describe, expect, it } from 'vitest';
import type { AlertView } from './types';
import { Bell, alarms, locationText, mapLink, telHref } from './alarm';

function alert(over: Partial<AlertView>): AlertView {
  return {
    id: 'a',
    kind: 'emergency',
    urgent: true,
    state: 'open',
    team: 't',
    shift: 's',
    worker: 'w',
    worker_name: 'Alice',
    opened_at: 1,
    due: null,
    checkin: null,
    steps_fired: 2,
    notified: ['buddies', 'leads'],
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

describe('the alarm state', () => {
  it('is every urgent alert nobody owns, not about me, freshest copy first', () => {
    const list = [alert({ id: '1' }), alert({ id: '2', state: 'claimed', claimed_by: 'x' }), alert({ id: '3', urgent: false })];
    // The board's copy of alert 2 is older (still open): the list's claim wins.
    const board = [alert({ id: '2' }), alert({ id: '4', worker: 'me' }), alert({ id: '5', kind: 'missed_checkin' })];
    expect(alarms([list, board], 'me').map((a) => a.id)).toEqual(['1', '5']);
    expect(alarms([[], board], 'me').map((a) => a.id)).toEqual(['2', '5']);
  });
  it('rings at once for a new alarm, then again every 30 s until claimed', () => {
    const bell = new Bell(30_000);
    const a = alert({ id: '1' });
    expect(bell.ring([a], 0).map((x) => x.id)).toEqual(['1']);
    expect(bell.ring([a], 10_000)).toEqual([]);
    expect(bell.repeating).toBe(false);
    expect(bell.ring([a], 30_000).map((x) => x.id)).toEqual(['1']);
    expect(bell.repeating).toBe(true);
    const b = alert({ id: '2' });
    expect(bell.ring([a, b], 31_000).map((x) => x.id)).toEqual(['2']); // 'a new one rings at once, alone'
    expect(bell.ring([], 40_000)).toEqual([]); // 'claimed: silence'
    expect(bell.ring([a], 41_000).map((x) => x.id)).toEqual(['1']); // 'open again: rings again'
  });
  it('shows a location at the precision shared, and a tel: link', () => {
    expect(locationText({ precision: 'coarse', lat: 51.5074, lon: -0.1278 })).toBe('Area near 51.51, -0.13 (about 1 km)');
    expect(locationText({ precision: 'precise', lat: 51.50735, lon: -0.12776 })).toBe('51.50735, -0.12776');
    expect(locationText(null)).toBeNull();
    expect(mapLink({ precision: 'coarse', lat: 51.51, lon: -0.13 })).toContain('mlat=51.51');
    expect(telHref('+44 (20) 7946-0000')).toBe('tel:+442079460000');
    expect(telHref('020 7946 0000')).toBe('tel:02079460000');
    expect(telHref('')).toBeNull();
  });
});
