// The seven protective factors (shared/DESIGN.md) as figures people can read, from the server's
// WorkerHealth. Pure: the Health screen only lays them out.

import type { WorkerHealth } from './types';
import { percent } from './chart';
import { formatSpan } from './time';

export type Factor = { key: string; title: string; figure: string; detail: string };

export function factors(h: WorkerHealth, opts: { control?: string | null; team?: boolean } = {}): Factor[] {
  const you = opts.team ? 'the team' : 'you';
  const due = h.checkins + h.missed_checkins;
  return [
    {
      key: 'contact',
      title: 'Regular contact',
      figure: percent(h.on_time_rate),
      detail:
        due === 0
          ? 'No check-ins were due in this period.'
          : `${h.on_time_checkins} of ${due} check-ins on time${h.missed_checkins > 0 ? `; ${h.missed_checkins} missed` : ''}.`,
    },
    {
      key: 'boundaries',
      title: 'Clear boundaries',
      figure: percent(h.end_kept_rate),
      detail:
        h.ended_shifts === 0
          ? 'No ended shifts yet.'
          : `${h.end_kept} of ${h.ended_shifts} shifts ended by their planned end (extensions made in time count).`,
    },
    {
      key: 'competence',
      title: 'Competence',
      figure: h.confidence_avg === null ? '—' : `${h.confidence_avg.toFixed(1)} / 5`,
      detail:
        h.confidence_trend.length === 0
          ? `No "on top of things" ratings yet: they are optional with each check-in.`
          : `Average "on top of things" rating over ${h.confidence_trend.length} check-ins.`,
    },
    {
      key: 'control',
      title: 'Control',
      figure: opts.team ? 'Their choice' : 'Your choice',
      detail: opts.control ?? 'Each worker sets their check-in rhythm within the policy, and what they share.',
    },
    {
      key: 'purpose',
      title: 'Purpose',
      figure: percent(h.purpose_rate),
      detail: h.shifts === 0 ? 'No shifts in this period.' : `${h.with_purpose} of ${h.shifts} shifts stated their purpose.`,
    },
    {
      key: 'inclusion',
      title: 'Inclusion',
      figure: String(h.replies_received),
      detail:
        h.replies_received === 0
          ? `No replies to ${you === 'you' ? 'your' : "the team's"} check-ins yet.`
          : `Check-ins answered by a lead or buddy; median ${formatSpan((h.reply_median_delay ?? 0) * 1000)} to the first reply.`,
    },
    {
      key: 'connections',
      title: 'Multiple connections',
      figure: String(h.active_connections),
      detail: opts.team
        ? 'Buddy and lead connections across the team (a person with fewer than two is more isolated).'
        : 'People you can reach: your buddies and your leads.',
    },
  ];
}
