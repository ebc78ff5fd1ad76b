// What the worker sees first on My shift: someone has their alert ("Sam is on it"), or the
// newest reply to their check-ins ("Seen by Sam, 14:02 — calling you"). Pure.

import type { AlertView, ShiftView } from './types';
import type { Tone } from './urgency';

export type TopNotice = { title: string; detail: string | null; tone: Tone };

/**
 * The notice at the top of My shift, or null. An alert about me that someone owns comes first
 * (it says who is dealing with it), then the newest reply on this shift.
 */
export function topNotice(
  shift: ShiftView | null,
  alertsAboutMe: ReadonlyArray<AlertView>,
  clock: (ms: number) => string,
): TopNotice | null {
  if (!shift) return null;
  const owned = alertsAboutMe
    .filter((a) => a.shift === shift.id && a.state === 'claimed' && a.claimed_by_name)
    .sort((a, b) => (b.claimed_at ?? 0) - (a.claimed_at ?? 0))[0];
  const reply = shift.latest_ack;
  if (owned) {
    const since = owned.claimed_at !== null ? ` since ${clock(owned.claimed_at)}` : '';
    const said = reply && reply.at >= (owned.claimed_at ?? 0) && reply.reply ? `${reply.by_name}: “${reply.reply}”` : null;
    return {
      title: `${owned.claimed_by_name} is on it${since}: expect a call.`,
      detail: said ?? 'They own your alert; the rest of the team can see that.',
      tone: 'ok',
    };
  }
  if (reply) {
    return {
      title: `Seen by ${reply.by_name}, ${clock(reply.at)}`,
      detail: reply.reply ? `“${reply.reply}”` : null,
      tone: 'ok',
    };
  }
  return null;
}
