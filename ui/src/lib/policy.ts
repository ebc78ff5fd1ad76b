// The policy form in minutes (as a lead thinks about it) and back to the API's seconds. The rules
// a policy must keep are the server's (kith-domain `Policy::check_edit`); this only turns what
// was typed into numbers, and says so when it is not a number.

import type { Notify, PolicyEdit } from './types';

export type PolicyForm = {
  min_min: number | string;
  max_min: number | string;
  default_min: number | string;
  grace_min: number | string;
  reminder_min: number | string;
  steps: Array<{ after_min: number | string; notify: Notify }>;
};

export const NOTIFY_LABEL: Record<Notify, string> = {
  worker: 'the worker',
  buddies: 'their buddies',
  leads: 'the leads',
};

export function policyForm(p: PolicyEdit): PolicyForm {
  const m = (s: number) => Math.round(s / 60);
  return {
    min_min: m(p.min_interval_s),
    max_min: m(p.max_interval_s),
    default_min: m(p.default_interval_s),
    grace_min: m(p.grace_s),
    reminder_min: m(p.reminder_lead_s),
    steps: p.escalation.map((s) => ({ after_min: m(s.after_s), notify: s.notify })),
  };
}

function minutes(v: number | string, what: string): number | string {
  const n = typeof v === 'number' ? v : Number(String(v).trim());
  if (String(v).trim() === '' || !Number.isFinite(n) || n < 0 || Math.round(n) !== n) {
    return `${what} must be a whole number of minutes.`;
  }
  return n * 60;
}

export function policyFromForm(f: PolicyForm): { ok: PolicyEdit } | { error: string } {
  const fields: Array<[keyof PolicyForm, string]> = [
    ['min_min', 'The shortest interval'],
    ['max_min', 'The longest interval'],
    ['default_min', 'The default interval'],
    ['grace_min', 'The grace'],
    ['reminder_min', 'The reminder'],
  ];
  const secs: number[] = [];
  for (const [k, what] of fields) {
    const v = minutes(f[k] as number | string, what);
    if (typeof v === 'string') return { error: v };
    secs.push(v);
  }
  const escalation = [];
  for (const [i, s] of f.steps.entries()) {
    const v = minutes(s.after_min, `Step ${i + 1}'s time`);
    if (typeof v === 'string') return { error: v };
    escalation.push({ after_s: v, notify: s.notify });
  }
  const [min, max, def, grace, rem] = secs as [number, number, number, number, number];
  return {
    ok: { min_interval_s: min, max_interval_s: max, default_interval_s: def, grace_s: grace, reminder_lead_s: rem, escalation },
  };
}
