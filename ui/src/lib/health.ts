// The seven protective factors (shared/DESIGN.md) as figures people can read, from the server's
// WorkerHealth. Pure: the Health screen only lays them out.

import type { WorkerHealth } from './types';
import { percent } from './chart';
import { formatSpan } from './time';

/** One factor: its figure, the count it comes from ("8 of 10 check-ins"), and what it means. */
export type Factor = { key: string; title: string; figure: string; count: string | null; detail: string };

/** "8 of 10 check-ins", or null when there is nothing to count. */
export function ofCount(n: number, d: number, noun: string, plural = `${noun}s`): string | null {
  return d === 0 ? null : `${n} of ${d} ${d === 1 ? noun : plural}`;
}

/** A rate with its count for a table cell: "80% (8 of 10)", or "—". */
export function rateCell(n: number, d: number): string {
  return d === 0 ? '—' : `${percent(n / d)} (${n} of ${d})`;
}

export function factors(h: WorkerHealth, opts: { control?: string | null; team?: boolean } = {}): Factor[] {
  const you = opts.team ? 'the team' : 'you';
  const due = h.checkins + h.missed_checkins;
  return [
    {
      key: 'contact',
      title: 'Regular contact',
      figure: percent(h.on_time_rate),
      count: ofCount(h.on_time_checkins, due, 'check-in'),
      detail:
        due === 0
          ? 'No check-ins were due in this period.'
          : `On time: by their due time plus grace${h.missed_checkins > 0 ? `; ${h.missed_checkins} never came` : ''}.`,
    },
    {
      key: 'boundaries',
      title: 'Clear boundaries',
      figure: percent(h.end_kept_rate),
      count: ofCount(h.end_kept, h.ended_shifts, 'shift'),
      detail:
        h.ended_shifts === 0
          ? 'No ended shifts yet.'
          : 'Ended by their planned end (an extension made in time counts).',
    },
    {
      key: 'competence',
      title: 'Competence',
      figure: h.confidence_avg === null ? '—' : `${h.confidence_avg.toFixed(1)} / 5`,
      count: h.confidence_trend.length === 0 ? null : `from ${h.confidence_trend.length} ${h.confidence_trend.length === 1 ? 'rating' : 'ratings'}`,
      detail:
        h.confidence_trend.length === 0
          ? `No "on top of things" ratings yet: they are optional with each check-in.`
          : `Average "on top of things" rating over ${h.confidence_trend.length} check-ins.`,
    },
    {
      key: 'control',
      title: 'Control',
      figure: opts.team ? 'Their choice' : 'Your choice',
      count: null,
      detail: opts.control ?? 'Each worker sets their check-in rhythm within the policy, and what they share.',
    },
    {
      key: 'purpose',
      title: 'Purpose',
      figure: percent(h.purpose_rate),
      count: ofCount(h.with_purpose, h.shifts, 'shift'),
      detail: h.shifts === 0 ? 'No shifts in this period.' : 'Shifts that said what they are for.',
    },
    {
      key: 'inclusion',
      title: 'Inclusion',
      figure: String(h.replies_received),
      count: h.checkins === 0 ? null : `of ${h.checkins} ${h.checkins === 1 ? 'check-in' : 'check-ins'} answered`,
      detail:
        h.replies_received === 0
          ? `No replies to ${you === 'you' ? 'your' : "the team's"} check-ins yet.`
          : `Check-ins answered by a lead or buddy; median ${formatSpan((h.reply_median_delay ?? 0) * 1000)} to the first reply.`,
    },
    {
      key: 'connections',
      title: 'Multiple connections',
      figure: String(h.active_connections),
      count: h.active_connections === 1 ? 'person' : 'people',
      detail: opts.team
        ? 'Buddy and lead connections across the team (a person with fewer than two is more isolated).'
        : 'People you can reach: your buddies and your leads.',
    },
  ];
}
