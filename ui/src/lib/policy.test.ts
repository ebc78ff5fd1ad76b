import { describe, expect, it } from 'vitest';
import { policyForm, policyFromForm } from './policy';

const p = {
  min_interval_s: 900,
  max_interval_s: 14_400,
  default_interval_s: 3600,
  grace_s: 600,
  reminder_lead_s: 300,
  escalation: [
    { after_s: 0, notify: 'worker' as const },
    { after_s: 900, notify: 'leads' as const },
  ],
};

describe('the policy form', () => {
  it('round-trips through minutes', () => {
    const f = policyForm(p);
    expect(f.grace_min).toBe(10);
    expect(policyFromForm(f)).toEqual({ ok: p });
  });
  it('says which field is not a whole number of minutes', () => {
    expect(policyFromForm({ ...policyForm(p), grace_min: 'soon' })).toEqual({
      error: 'The grace must be a whole number of minutes.',
    });
    const f = policyForm(p);
    f.steps[1]!.after_min = -5;
    expect(policyFromForm(f)).toEqual({ error: "Step 2's time must be a whole number of minutes." });
  });
});
