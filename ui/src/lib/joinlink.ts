// Invite links and server addresses, as people paste or type them.

export type JoinTarget = { server: string; code: string };

/**
 * Reads `kith://join?server=...&code=...` (also `kith:join?...` and an http(s) URL carrying
 * `?code=`, e.g. a link to the server's own page). Returns null when it is not such a link.
 */
export function parseJoinLink(text: string): JoinTarget | null {
  const t = text.trim();
  if (!t) return null;
  let url: URL;
  try {
    url = new URL(t);
  } catch {
    return null;
  }
  const params = url.searchParams;
  const code = params.get('code')?.trim();
  if (!code) return null;
  if (url.protocol === 'kith:') {
    const server = params.get('server')?.trim();
    if (!server) return null;
    const normalized = normalizeServer(server);
    return normalized ? { server: normalized, code } : null;
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    const server = params.get('server')?.trim();
    const normalized = normalizeServer(server || url.origin);
    return normalized ? { server: normalized, code } : null;
  }
  return null;
}

/** Looks like an invite link (rather than a bare code or address)? */
export function looksLikeLink(text: string): boolean {
  return /^kith:/i.test(text.trim()) || /[?&]code=/.test(text);
}

/**
 * A server address as typed → its origin-ish base URL without a trailing slash, or null.
 * A bare host gets https:// (http:// for localhost and loopback addresses).
 */
export function normalizeServer(text: string): string | null {
  let t = text.trim();
  if (!t) return null;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(t)) {
    const local = /^(localhost|127\.|\[::1\]|0\.0\.0\.0)/i.test(t);
    t = `${local ? 'http' : 'https'}://${t}`;
  }
  let url: URL;
  try {
    url = new URL(t);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (!url.hostname) return null;
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.protocol}//${url.host}${path}`;
}

/** A random actor id for a browser device: 16 bytes as hex. */
export function randomActor(rand: (buf: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): string {
  const bytes = rand(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The invite code in a dashboard address such as `https://kith.example/?code=ABCD-EFGH` (or
 * `#code=...`), so a lead can send a browser link as well as a `kith://` one.
 */
export function codeFromPageUrl(search: string, hash: string): string | null {
  for (const part of [search, hash]) {
    const code = new URLSearchParams(part.replace(/^[?#]/, '')).get('code')?.trim();
    if (code) return code;
  }
  return null;
}
