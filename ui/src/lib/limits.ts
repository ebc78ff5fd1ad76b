// Text limits as the device and the server count them: characters (Unicode code points, as
// kith_domain::limits::char_count and JSON Schema's maxLength do). Not `.length` nor HTML
// `maxlength`: those count UTF-16 units, so "😀" would count twice and the input would cut the
// text silently instead of saying it is too long.

/** The length of a text as the limits count it: code points ("é" and "😀" are one each). */
export function charCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** What to tell the user when `value` (trimmed, as it is saved) is over `max` characters, or null. */
export function tooLong(what: string, value: string | null | undefined, max: number): string | null {
  const n = charCount((value ?? '').trim());
  if (n <= max) return null;
  return `The ${what} is ${n.toLocaleString('en')} characters long; at most ${max.toLocaleString('en')}: shorten it.`;
}
