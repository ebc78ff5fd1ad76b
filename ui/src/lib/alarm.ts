// The alarm state: urgent alerts nobody has claimed yet, shown in a banner on every screen with
// what the worker said, where and how to call them, and repeated (sound, notification) until
// someone claims them. Which alerts are urgent and in what order they come is the server's
// (kith-api: `urgent`, the board's order); this only picks the open ones out and times the bell.

import type { AlertView, LocationView } from './types';

/** Urgent alerts nobody owns yet, not about me, in the server's order (the list's, else the board's). */
export function alarms(lists: ReadonlyArray<ReadonlyArray<AlertView>>, me: string | null | undefined): AlertView[] {
  const seen = new Set<string>();
  const out: AlertView[] = [];
  // The first list is the freshest about each alert (the Alerts list, then the board's): an alert
  // claimed there is claimed, whatever an older copy says.
  for (const list of lists) {
    for (const a of list) {
      if (seen.has(a.id)) continue;
      seen.add(a.id);
      if (a.urgent && a.state === 'open' && a.worker !== me) out.push(a);
    }
  }
  return out;
}

/** Where the worker was, at the precision they share: "Area near 51.51, -0.13" / "51.50735, -0.12776". */
export function locationText(l: LocationView | null | undefined): string | null {
  if (!l || l.precision === 'none') return null;
  if (l.precision === 'coarse') return `Area near ${l.lat.toFixed(2)}, ${l.lon.toFixed(2)} (about 1 km)`;
  return `${l.lat.toFixed(5)}, ${l.lon.toFixed(5)}`;
}

/** A map link for a shared location (opened by the person; nothing is loaded by Kith). */
export function mapLink(l: LocationView | null | undefined): string | null {
  if (!l || l.precision === 'none') return null;
  const zoom = l.precision === 'coarse' ? 14 : 17;
  return `https://www.openstreetmap.org/?mlat=${l.lat}&mlon=${l.lon}#map=${zoom}/${l.lat}/${l.lon}`;
}

/** A `tel:` link for a phone number as people write it (digits, with a leading +). */
export function telHref(phone: string | null | undefined): string | null {
  if (!phone) return null;
  const plus = phone.trim().startsWith('+');
  const digits = phone.replace(/\D/g, '');
  return digits.length >= 3 ? `tel:${plus ? '+' : ''}${digits}` : null;
}

/**
 * When to ring again: at once for an alarm not rung yet, then every `everyMs` while any alarm is
 * unclaimed. Pure state: `ring` returns what to do now and remembers it.
 */
export class Bell {
  private rung = new Set<string>();
  private last = -Infinity;
  /** The last ring was a repeat (every alarm rung before), not a new alarm. */
  repeating = false;

  constructor(private readonly everyMs = 30_000) {}

  /** The alarms to announce now (new ones, or all of them when it is time to repeat), else []. */
  ring(open: ReadonlyArray<AlertView>, now: number): AlertView[] {
    const ids = new Set(open.map((a) => a.id));
    for (const id of [...this.rung]) if (!ids.has(id)) this.rung.delete(id);
    if (open.length === 0) return [];
    const fresh = open.filter((a) => !this.rung.has(a.id));
    if (fresh.length === 0 && now - this.last < this.everyMs) return [];
    for (const a of open) this.rung.add(a.id);
    this.last = now;
    this.repeating = fresh.length === 0;
    return this.repeating ? [...open] : fresh;
  }
}
