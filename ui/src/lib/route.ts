// Hash routes (`#/team`, `#/shift/<id>`): work under any base path, in Tauri and in the browser,
// and keep the back button meaningful.

export type Tab = 'shift' | 'team' | 'alerts' | 'people' | 'history' | 'health' | 'settings';
export type Route = { name: Tab } | { name: 'join' } | { name: 'shift-detail'; id: string };

export const TABS: ReadonlyArray<{ tab: Tab; label: string }> = [
  { tab: 'shift', label: 'My shift' },
  { tab: 'team', label: 'Team' },
  { tab: 'alerts', label: 'Alerts' },
  { tab: 'people', label: 'People' },
  { tab: 'history', label: 'History' },
  { tab: 'health', label: 'Health' },
  { tab: 'settings', label: 'Settings' },
];

const TAB_NAMES = new Set<string>(TABS.map((t) => t.tab));

export function parseRoute(hash: string, fallback: Route): Route {
  const path = hash.replace(/^#\/?/, '').replace(/\/+$/, '');
  if (!path) return fallback;
  const [head, ...rest] = path.split('/');
  if (head === 'join') return { name: 'join' };
  if (head === 'shift' && rest.length === 1 && rest[0]) return { name: 'shift-detail', id: decodeURIComponent(rest[0]) };
  if (head && rest.length === 0 && TAB_NAMES.has(head)) return { name: head as Tab };
  return fallback;
}

export function routeHash(r: Route): string {
  if (r.name === 'shift-detail') return `#/shift/${encodeURIComponent(r.id)}`;
  return `#/${r.name}`;
}

/** The tab a route belongs to (for aria-current in the nav). */
export function tabOf(r: Route): Tab | null {
  if (r.name === 'join') return null;
  if (r.name === 'shift-detail') return 'team';
  return r.name;
}

/** The tabs this person sees: People is for leads; the browser cannot check in, so it has no My shift. */
export function visibleTabs(opts: { lead: boolean; browser: boolean }): ReadonlyArray<{ tab: Tab; label: string }> {
  return TABS.filter((t) => (t.tab !== 'people' || opts.lead) && (t.tab !== 'shift' || !opts.browser));
}
