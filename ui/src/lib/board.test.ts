import { describe, expect, it } from 'vitest';
import type { BoardEntry } from './types';
import { attentionSummary, defaultDensity, filterRows } from './board';

function row(name: string, over: Partial<BoardEntry> = {}): BoardEntry {
  return {
    member: name,
    name,
    role: 'member',
    status: 'fine',
    attention: 'calm',
    phone: null,
    alert_since: null,
    shift: null,
    purpose: null,
    last_checkin: null,
    next_due: null,
    planned_end: null,
    online: false,
    last_seen: null,
    alert_owner: null,
    ...over,
  } as BoardEntry;
}

const rows = [
  row('Zoë Unowned', { status: 'emergency', attention: 'unowned' }),
  row('Ben Owned', { status: 'overdue', attention: 'owned', alert_owner: 'Sam' }),
  row('Cat Fine', { purpose: 'Survey, Mill Lane' }),
  row('Dan Off', { status: 'off_shift' }),
];

describe('the board on a laptop', () => {
  it('filters by status and searches by name, keeping the server order', () => {
    expect(filterRows(rows, 'all', '').map((r) => r.name)).toEqual(rows.map((r) => r.name));
    expect(filterRows(rows, 'attention', '').map((r) => r.name)).toEqual(['Zoë Unowned', 'Ben Owned']);
    expect(filterRows(rows, 'off_shift', '').map((r) => r.name)).toEqual(['Dan Off']);
    expect(filterRows(rows, 'all', 'zoe').map((r) => r.name)).toEqual(['Zoë Unowned']); // 'accents folded'
    expect(filterRows(rows, 'all', 'mill').map((r) => r.name)).toEqual(['Cat Fine']); // 'purpose too'
    expect(filterRows(rows, 'fine', 'zoe')).toEqual([]);
  });
  it('sums up who needs a human', () => {
    expect(attentionSummary(rows)).toEqual({
      unowned: 1,
      owned: 1,
      text: '1 person needs a human now, nobody owns it · 1 being looked after.',
    });
    expect(attentionSummary([rows[2]!]).text).toBe('Nobody needs a human right now.');
  });
  it('starts compact on a laptop and as cards on a phone', () => {
    expect(defaultDensity(1280)).toBe('compact');
    expect(defaultDensity(390)).toBe('cards');
  });
});
