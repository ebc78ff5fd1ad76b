import { describe, expect, it } from 'vitest';
import { LIMITS } from '../generated/limits';

// Every component's source, as text (Vite reads them at test time).
const sources = import.meta.glob('../**/*.svelte', { query: '?raw', import: 'default', eager: true }) as Record<
  string,
  string
>;

describe('text limits', () => {
  // The forms' limits once drifted from the domain's (notes cut at 300 characters where 2,000
  // bytes are allowed): every maxlength now names a limit generated from kith_domain::limits.
  it('every form field takes its maxlength from the generated limits', () => {
    expect(Object.keys(sources).length).toBeGreaterThan(10);
    const literal: string[] = [];
    for (const [f, src] of Object.entries(sources)) {
      for (const m of src.matchAll(/maxlength=("[^"]*"|\{[^}]*\})/gi)) {
        if (!(m[1] ?? '').startsWith('{LIMITS.')) literal.push(`${f}: ${m[0]}`);
      }
    }
    expect(literal).toEqual([]);
  });

  it('a check-in note and a reply may be as long as the domain allows', () => {
    expect(LIMITS.checkinNote).toBe(2000);
    expect(LIMITS.ackReply).toBe(2000);
  });
});
