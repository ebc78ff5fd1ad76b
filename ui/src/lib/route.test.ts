import { describe, expect, it } from 'vitest';
import { parseRoute, routeHash, tabOf } from './route';

const fb = { name: 'team' } as const;

describe('routes', () => {
  it('parses tabs, shift details and falls back on anything else', () => {
    expect(parseRoute('#/alerts', fb)).toEqual({ name: 'alerts' });
    expect(parseRoute('#/settings/', fb)).toEqual({ name: 'settings' });
    expect(parseRoute('#/shift/abc%20d', fb)).toEqual({ name: 'shift-detail', id: 'abc d' });
    expect(parseRoute('#/shift', fb)).toEqual({ name: 'shift' });
    expect(parseRoute('', fb)).toBe(fb);
    expect(parseRoute('#/nowhere', fb)).toBe(fb);
    expect(parseRoute('#/team/extra', fb)).toBe(fb);
  });
  it('round-trips', () => {
    for (const r of [{ name: 'health' as const }, { name: 'shift-detail' as const, id: 'x/y' }]) {
      expect(parseRoute(routeHash(r), fb)).toEqual(r);
    }
    expect(tabOf({ name: 'shift-detail', id: 'x' })).toBe('team');
    expect(tabOf({ name: 'join' })).toBeNull();
  });
});

describe('tabs', () => {
  it('People is for leads; the browser has no My shift', async () => {
    const { visibleTabs } = await import('./route');
    const names = (o: { lead: boolean; browser: boolean }) => visibleTabs(o).map((t) => t.tab);
    expect(names({ lead: true, browser: true })).toEqual(['team', 'alerts', 'people', 'history', 'health', 'settings']);
    expect(names({ lead: false, browser: false })).toEqual(['shift', 'team', 'alerts', 'history', 'health', 'settings']);
  });
});
