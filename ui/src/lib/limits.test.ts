import { describe, expect, it } from 'vitest';
import { LIMITS } from '../generated/limits';
import { charCount, tooLong } from './limits';

// Every component's source, as text (Vite reads them at test time).
const sources = import.meta.glob('../**/*.svelte', { query: '?raw', import: 'default', eager: true }) as Record<
  string,
  string
>;

describe('text limits', () => {
  // HTML maxlength counts UTF-16 units and cuts silently, where the device, the server and the
  // OpenAPI schema count characters: "😀" × 300 was cut to 150 emoji, with no word why.
  it('no form field uses maxlength; each limited field says when it is too long', () => {
    expect(Object.keys(sources).length).toBeGreaterThan(10);
    const found: string[] = [];
    for (const [f, src] of Object.entries(sources)) {
      for (const m of src.matchAll(/maxlength=/gi)) found.push(`${f}: ${m[0]}`);
      for (const m of src.matchAll(/LIMITS\.(\w+)/g)) {
        if (!src.includes(`LIMITS.${m[1]})`)) found.push(`${f}: LIMITS.${m[1]} not checked with tooLong`);
      }
    }
    expect(found).toEqual([]);
  });

  it('counts characters as the server does, in any script, at the boundary', () => {
    for (const ch of ['é', '李', '😀', 'x']) {
      expect(charCount(ch.repeat(LIMITS.memberName))).toBe(LIMITS.memberName);
      expect(tooLong('name', ch.repeat(LIMITS.memberName), LIMITS.memberName)).toBeNull();
      expect(tooLong('name', ch.repeat(LIMITS.memberName + 1), LIMITS.memberName)).toBe(
        'The name is 301 characters long; at most 300: shorten it.',
      );
      expect(tooLong('note', ch.repeat(LIMITS.checkinNote), LIMITS.checkinNote)).toBeNull();
      expect(tooLong('note', ch.repeat(LIMITS.checkinNote + 1), LIMITS.checkinNote)).not.toBeNull();
    }
    // Blanks around the text are trimmed before saving, so they do not count.
    expect(tooLong('name', `  ${'é'.repeat(300)}\n`, 300)).toBeNull();
  });

  it('a check-in note and a reply may be as long as the domain allows', () => {
    expect(LIMITS.checkinNote).toBe(2000);
    expect(LIMITS.ackReply).toBe(2000);
  });
});
