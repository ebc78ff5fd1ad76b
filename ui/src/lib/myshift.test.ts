import { describe, expect, it } from 'vitest';
import type { AlertView, ShiftView } from './types';
import { topNotice } from './myshift';

const clock = (ms: number) => `T${ms}`;
const shift = (over: Partial<ShiftView> = {}) => ({ id: 's', latest_ack: null, ...over }) as ShiftView;
const claimed = (over: Partial<AlertView> = {}) =>
  ({ id: 'a', shift: 's', state: 'claimed', claimed_by_name: 'Sam', claimed_at: 100, ...over }) as AlertView;

describe('the top of My shift', () => {
  it('says who is on it first', () => {
    const n = topNotice(shift(), [claimed()], clock);
    expect(n?.title).toBe('Sam is on it since T100: expect a call.');
    const withReply = topNotice(
      shift({ latest_ack: { id: 'k', by: 'sam', by_name: 'Sam', at: 120, reply: 'Calling you now' } }),
      [claimed()],
      clock,
    );
    expect(withReply?.detail).toBe('Sam: “Calling you now”');
  });
  it('otherwise shows the newest reply', () => {
    const n = topNotice(shift({ latest_ack: { id: 'k', by: 'sam', by_name: 'Sam', at: 50, reply: null } }), [], clock);
    expect(n).toEqual({ title: 'Seen by Sam, T50', detail: null, tone: 'ok' });
    expect(topNotice(shift(), [claimed({ shift: 'other' })], clock)).toBeNull();
    expect(topNotice(null, [claimed()], clock)).toBeNull();
  });
});
