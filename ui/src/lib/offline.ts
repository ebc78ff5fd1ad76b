// Offline honesty: what the sync banner says, and what the worker is told after writing something.

import type { SyncState } from './types';

export type Banner = {
  /** Show the banner at all. */
  show: boolean;
  offline: boolean;
  /** The banner's whole text; starts with "Offline" when offline. */
  text: string;
  /** "N waiting to sync", or null when nothing is queued. */
  queued: string | null;
  /** Needs the user's attention (e.g. the device was revoked). */
  attention: boolean;
  /**
   * The server does not know this device (restored from a backup taken before it joined), as
   * opposed to revoked: offer to join with a new invite, which re-joins as the same member.
   */
  rejoin: boolean;
};

export function queuedText(pending: number): string | null {
  return pending > 0 ? `${pending} waiting to sync` : null;
}

/**
 * The sync banner. `clock` formats the last-synced time; `browser` is true for the dashboard,
 * which has no local queue (it only loses its view of the server).
 */
export function syncBanner(
  sync: SyncState,
  clock: (ms: number) => string,
  opts: { browser?: boolean; joined?: boolean } = {},
): Banner {
  // Before joining there is no server to be offline from, and nothing to sync.
  if (opts.joined === false) return { show: false, offline: false, text: '', queued: null, attention: false, rejoin: false };
  const queued = queuedText(sync.pending_changes);
  const last = sync.last_synced_ms !== null ? `last synced ${clock(sync.last_synced_ms)}` : 'not synced yet';
  const attention = sync.needs_attention;
  // Before "offline": the server answered (401 device_unknown), and a sync that fails so is not
  // online either, but what helps is a new invite, not waiting for a connection.
  if (attention && sync.device_unknown) {
    // Not revoked: everything stays on this device, and a new invite brings it back as itself.
    const text =
      'The team server does not know this device any more (it was probably restored from a backup). ' +
      'Nothing on this device is lost: ask your lead for a new invite and join with it here.';
    return { show: true, offline: false, text, queued, attention, rejoin: true };
  }
  if (!sync.online) {
    const what = opts.browser
      ? "can't reach the server, showing what was last loaded"
      : queued
        ? `${queued}, kept on this device until there's a connection`
        : "check-ins are kept on this device until there's a connection";
    return { show: true, offline: true, text: `Offline — ${what}. ${capitalize(last)}.`, queued, attention, rejoin: false };
  }
  if (attention && sync.last_error) {
    return { show: true, offline: false, text: `Sync needs attention: ${sync.last_error}`, queued, attention, rejoin: false };
  }
  if (sync.retrying) {
    // The server answered but could not store what is queued (its storage is full or failing):
    // not delivered, and Kith keeps sending it by itself. Shown like offline: nobody has it yet.
    return { show: true, offline: true, text: sync.retrying, queued, attention, rejoin: false };
  }
  if (queued) {
    return { show: true, offline: false, text: `Syncing — ${queued}.`, queued, attention, rejoin: false };
  }
  return { show: false, offline: false, text: '', queued: null, attention, rejoin: false };
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Local changes that the server does not have, and that are not just on their way. */
export function undelivered(sync: SyncState): boolean {
  return sync.pending_changes > 0 && (!sync.online || !!sync.retrying);
}

/**
 * What the worker is told right after a check-in, an extension or an end. `queued` is the
 * write's own reason for not being shared (e.g. the server could not store it now), if known.
 */
export function writeMessage(what: string, shared: boolean, online: boolean, queued: string | null = null): string {
  if (shared) return `${what} — sent to your team.`;
  if (!online) return `${what} — saved on this device. Offline: it will be sent when there's a connection.`;
  if (queued) return `${what} — saved on this device. ${queued}`;
  return `${what} — saved on this device, sending now.`;
}

export type EmergencyNotice = { headline: string; advice: string; phone: string | null; tel: string | null };

/**
 * After an emergency that has not reached the server: say plainly that nobody has been reached
 * and offer the team phone number as a tel: link.
 */
export function emergencyNotice(
  shared: boolean,
  phone: string | null | undefined,
  retrying: string | null = null,
): EmergencyNotice | null {
  if (shared) return null;
  const p = phone?.trim() || null;
  // Reachable but refused for now (the server's storage is failing) is not "no connection".
  const where = retrying
    ? 'Your emergency is saved on this device but the team server could not take it yet; Kith keeps sending it by itself.'
    : 'Your emergency is saved on this device and will be sent as soon as there is a connection.';
  return {
    headline: 'Nobody has been reached yet.',
    advice: p
      ? `${where} If you can, phone your team now:`
      : `${where} If you can, phone someone now, or your emergency number if you are in danger.`,
    phone: p,
    tel: p ? telHref(p) : null,
  };
}

/** A tel: URL from a written phone number ("+44 20 7946 0000" → "tel:+442079460000"). */
export function telHref(phone: string): string {
  const digits = phone.replace(/[^\d+*#]/g, '');
  return `tel:${digits}`;
}
