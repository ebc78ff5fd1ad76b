// Narrowing the board down on a laptop: filter by status, search by name. The order is the
// server's (who needs a human first: kith-domain `rules::board_key`); filtering keeps it.

import type { BoardEntry, BoardStatus } from './types';

export type StatusFilter = 'all' | 'attention' | BoardStatus;

export const STATUS_FILTERS: ReadonlyArray<{ value: StatusFilter; label: string }> = [
  { value: 'all', label: 'Everyone' },
  { value: 'attention', label: 'Needs a human' },
  { value: 'emergency', label: 'Emergency' },
  { value: 'overdue', label: 'Overdue' },
  { value: 'support', label: 'Asked for support' },
  { value: 'due_soon', label: 'Due soon' },
  { value: 'fine', label: 'Fine' },
  { value: 'off_shift', label: 'Off shift' },
];

/** Folds case and accents, so "zoe" finds "Zoë". */
function fold(s: string): string {
  return s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

/** The rows that match, in the order given. */
export function filterRows(rows: ReadonlyArray<BoardEntry>, status: StatusFilter, query: string): BoardEntry[] {
  const q = fold(query.trim());
  return rows.filter((r) => {
    if (status === 'attention' && r.attention === 'calm') return false;
    if (status !== 'all' && status !== 'attention' && r.status !== status) return false;
    return q === '' || fold(r.name).includes(q) || (r.purpose !== null && fold(r.purpose).includes(q));
  });
}

/** "2 need a human now, nobody owns them · 1 owned" for the board's heading. */
export function attentionSummary(rows: ReadonlyArray<BoardEntry>): { unowned: number; owned: number; text: string } {
  const unowned = rows.filter((r) => r.attention === 'unowned').length;
  const owned = rows.filter((r) => r.attention === 'owned').length;
  const people = (n: number) => `${n} ${n === 1 ? 'person' : 'people'}`;
  let text: string;
  if (unowned === 0 && owned === 0) text = 'Nobody needs a human right now.';
  else if (unowned === 0) text = `${people(owned)} being looked after; nobody waiting.`;
  else text = `${people(unowned)} need${unowned === 1 ? 's' : ''} a human now, nobody owns it${owned ? ` · ${owned} being looked after` : ''}.`;
  return { unowned, owned, text };
}

/** How the board is laid out: cards (phones) or the compact list (laptops). */
export type Density = 'cards' | 'compact';

export function defaultDensity(width: number): Density {
  return width >= 1000 ? 'compact' : 'cards';
}
