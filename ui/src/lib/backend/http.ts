// The browser's backend: the dashboard served by kith-server at `/`. No local store: data come
// from the same-origin JSON API (`/v1/...`, `Authorization: Bearer <token>`) and the live
// channel (`GET /v1/live`, SSE read with fetch so the token stays in a header).
//
// Worker actions (start shift, check in, extend, end) need the app's local store and are refused
// with a plain message (NOT_IN_BROWSER).

import type {
  AlertEvent,
  AlertList,
  AlertView,
  AppState,
  BoardResponse,
  DeviceList,
  HealthResponse,
  InviteResponse,
  Kudos,
  Me,
  MeResponse,
  MemberEdit,
  PolicyEdit,
  PresenceView,
  Settings,
  ShiftView,
  SyncState,
  TeamView,
  WriteResult,
} from '../types';
import { Backoff } from '../backoff';
import { randomActor } from '../joinlink';
import { readSse, type SseEvent } from '../sse';
import {
  BackendError,
  NOT_IN_BROWSER,
  isApiError,
  type AckInput,
  type Backend,
  type BackendEvents,
  type JoinInput,
} from './backend';

const TOKEN_KEY = 'kith.token';
const SETTINGS_KEY = 'kith.settings';
const SYNCED_KEY = 'kith.last_synced_ms';

/** Storage the backend uses (localStorage in the browser; a Map in tests). */
export type KeyValue = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

export type HttpOptions = {
  /** Base URL of the API; '' for same origin (the only one CSP allows in the browser). */
  base?: string;
  fetch?: typeof fetch;
  storage?: KeyValue;
  /** Called when the device is no longer joined (revoked, or signed out). */
  now?: () => number;
};


export function defaultSettings(): Settings {
  return {
    location_precision: 'none',
    note_visibility: 'team',
    buddies: [],
    last_purpose: null,
    last_interval_s: null,
    last_mood: null,
    last_confidence: null,
  } as Settings;
}

export class HttpBackend implements Backend {
  readonly kind = 'http' as const;
  readonly canWork = false;

  private readonly base: string;
  private readonly f: typeof fetch;
  private readonly kv: KeyValue;
  private readonly now: () => number;
  private me: Me | null = null;
  private syncState: SyncState;
  private syncListeners = new Set<(s: SyncState) => void>();
  private channels = new Set<LiveChannel>();

  constructor(opts: HttpOptions = {}) {
    this.base = opts.base ?? '';
    this.f = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.kv = opts.storage ?? browserStorage();
    this.now = opts.now ?? Date.now;
    const last = Number(this.kv.getItem(SYNCED_KEY));
    this.syncState = {
      online: typeof navigator === 'undefined' ? true : navigator.onLine !== false,
      live: false,
      last_synced_ms: Number.isFinite(last) && last > 0 ? last : null,
      pending_changes: 0,
      last_error: null,
      needs_attention: false,
      device_unknown: false,
      retrying: null,
      clock_offset_ms: null,
    } as SyncState;
  }

  get token(): string | null {
    return this.kv.getItem(TOKEN_KEY);
  }

  // --- plumbing -----------------------------------------------------------------------------

  private setSync(patch: Partial<SyncState>): void {
    const next = { ...this.syncState, ...patch } as SyncState;
    const changed = (Object.keys(patch) as Array<keyof SyncState>).some((k) => this.syncState[k] !== next[k]);
    this.syncState = next;
    if (changed) for (const l of this.syncListeners) l(next);
  }

  private contact(ok: boolean, error: string | null = null): void {
    if (ok) {
      const t = this.now();
      this.kv.setItem(SYNCED_KEY, String(t));
      this.setSync({ online: true, last_synced_ms: t, last_error: null });
    } else {
      this.setSync({ online: false, last_error: error });
    }
  }

  /** One request to the API; throws BackendError with the server's message on failure. */
  async request<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth) {
      const token = this.token;
      if (!token) throw new BackendError({ code: 'not_joined', message: 'Join a team first.', retryable: false }, 401);
      headers.Authorization = `Bearer ${token}`;
    }
    let res: Response;
    try {
      res = await this.f(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch {
      const message = "Offline: can't reach the Kith server. Check the connection; this page retries by itself.";
      this.contact(false, message);
      throw new BackendError({ code: 'offline', message, retryable: true }, null);
    }
    if (!res.ok) {
      const err = await errorOf(res);
      if (res.status === 401) this.setSync({ needs_attention: true, last_error: err.message });
      // A server error still means we reached it.
      if (res.status < 500) this.contact(true);
      else this.contact(false, err.message);
      throw err;
    }
    this.contact(true);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  private notJoinedState(): AppState {
    return {
      joined: false,
      me: null,
      policy: null,
      team: [],
      shift: null,
      last_shift: null,
      sync: this.syncState,
      next_reminder: null,
      settings: this.loadSettings(),
      now: this.now(),
    } as AppState;
  }

  private loadSettings(): Settings {
    try {
      const raw = this.kv.getItem(SETTINGS_KEY);
      if (raw) return { ...defaultSettings(), ...(JSON.parse(raw) as Partial<Settings>) } as Settings;
    } catch {
      /* fall through to defaults */
    }
    return defaultSettings();
  }

  // --- Backend ------------------------------------------------------------------------------

  async appState(): Promise<AppState> {
    if (!this.token) return this.notJoinedState();
    let answer: MeResponse;
    const sent = this.now();
    try {
      answer = await this.request<MeResponse>('GET', '/v1/me');
    } catch (e) {
      if (e instanceof BackendError && e.status === 401) {
        // Revoked or unknown: this browser is no longer a device of the team.
        this.kv.removeItem(TOKEN_KEY);
      }
      throw e;
    }
    const me = answer.me;
    this.me = me;
    this.measureOffset(answer.server_time, sent);
    return {
      joined: true,
      me,
      policy: answer.policy ?? null,
      team: answer.team ?? [],
      shift: null,
      last_shift: null,
      sync: this.syncState,
      next_reminder: null,
      settings: this.loadSettings(),
      now: this.now(),
    } as AppState;
  }

  /** Server clock minus ours, from a server time taken between `sent` and now. */
  private measureOffset(serverTime: number | null | undefined, sent: number): void {
    if (typeof serverTime !== 'number') return;
    const mid = (sent + this.now()) / 2;
    this.setSync({ clock_offset_ms: Math.round(serverTime - mid) });
  }

  async join(input: JoinInput): Promise<AppState> {
    const code = input.code ?? (input.link ? codeOfLink(input.link) : undefined);
    if (!code) {
      throw new BackendError({ code: 'bad_link', message: 'That invite link has no code in it.', retryable: false });
    }
    type JoinResponse = { token: string };
    const res = await this.request<JoinResponse>(
      'POST',
      '/v1/join',
      { code: code.trim(), name: input.name.trim(), device_label: browserLabel(), actor: randomActor() },
      false,
    );
    this.kv.setItem(TOKEN_KEY, res.token);
    this.setSync({ needs_attention: false, last_error: null });
    for (const c of this.channels) c.restart();
    return this.appState();
  }

  startShift(): Promise<WriteResult> {
    return Promise.reject(new BackendError(NOT_IN_BROWSER));
  }
  checkIn(): Promise<WriteResult> {
    return Promise.reject(new BackendError(NOT_IN_BROWSER));
  }
  extendShift(): Promise<WriteResult> {
    return Promise.reject(new BackendError(NOT_IN_BROWSER));
  }
  endShift(): Promise<WriteResult> {
    return Promise.reject(new BackendError(NOT_IN_BROWSER));
  }

  async ack(input: AckInput): Promise<WriteResult> {
    const body = input.reply?.trim() ? { reply: input.reply.trim() } : {};
    const shift = await this.request<ShiftView>(
      'POST',
      `/v1/shifts/${enc(input.shift)}/checkins/${enc(input.checkin)}/ack`,
      body,
    );
    return { shift, shared: true } as WriteResult;
  }

  async board(): Promise<BoardResponse> {
    const sent = this.now();
    const b = await this.request<BoardResponse>('GET', '/v1/board');
    const got = this.now();
    this.measureOffset(b.server_time, sent);
    // The browser always shows the server's board, as of now.
    return { ...b, source: 'server', synced_at: b.synced_at ?? got } as BoardResponse;
  }

  shift(id: string): Promise<ShiftView> {
    return this.request('GET', `/v1/shifts/${enc(id)}`);
  }

  async history(member?: string): Promise<ShiftView[]> {
    const who = member ?? this.me?.member_id ?? (await this.appState()).me?.member_id;
    if (!who) return [];
    return this.request('GET', `/v1/members/${enc(who)}/shifts?limit=50`);
  }

  health(days: number): Promise<HealthResponse> {
    return this.request('GET', `/v1/health?days=${encodeURIComponent(String(days))}`);
  }

  alerts(all?: boolean): Promise<AlertList> {
    return this.request('GET', all ? '/v1/alerts?all=true' : '/v1/alerts');
  }

  claimAlert(id: string): Promise<AlertView> {
    return this.request('POST', `/v1/alerts/${enc(id)}/claim`);
  }

  resolveAlert(id: string, note: string): Promise<AlertView> {
    return this.request('POST', `/v1/alerts/${enc(id)}/resolve`, { note });
  }

  takeOverAlert(id: string): Promise<AlertView> {
    return this.request('POST', `/v1/alerts/${enc(id)}/takeover`, {});
  }

  assignAlert(id: string, member: string): Promise<AlertView> {
    return this.request('POST', `/v1/alerts/${enc(id)}/assign`, { member });
  }

  teamView(): Promise<TeamView> {
    return this.request('GET', '/v1/team');
  }

  editPolicy(policy: PolicyEdit): Promise<TeamView> {
    return this.request('PUT', '/v1/team/policy', policy);
  }

  editMember(member: string, edit: MemberEdit): Promise<TeamView> {
    return this.request('PUT', `/v1/members/${enc(member)}`, edit);
  }

  invite(role: 'member' | 'lead', uses: number): Promise<InviteResponse> {
    return this.request('POST', '/v1/invites', { role, uses });
  }

  devices(): Promise<DeviceList> {
    return this.request('GET', '/v1/devices');
  }

  revokeDevice(id: string): Promise<DeviceList> {
    return this.request('POST', `/v1/devices/${enc(id)}/revoke`, {});
  }

  async kudos(to: string): Promise<void> {
    await this.request<void>('POST', '/v1/kudos', { to });
  }

  async saveSettings(settings: Settings): Promise<AppState> {
    this.kv.setItem(SETTINGS_KEY, JSON.stringify(settings));
    return this.appState();
  }

  async exportData(): Promise<string> {
    const state = await this.appState();
    const shifts = state.me ? await this.history(state.me.member_id) : [];
    return JSON.stringify(
      { exported_at: this.now(), from: 'browser dashboard', me: state.me, team: state.team, shifts },
      null,
      2,
    );
  }

  async syncNow(): Promise<SyncState> {
    await this.request('GET', '/v1/me');
    return this.syncState;
  }

  async signOut(): Promise<void> {
    this.kv.removeItem(TOKEN_KEY);
    this.me = null;
    for (const c of this.channels) c.restart();
    this.setSync({ live: false, needs_attention: false, last_error: null });
  }

  /** Reconnects the live channel (the credential changed: joined, or the web app's engine opened). */
  restartLive(): void {
    for (const c of this.channels) c.restart();
  }

  currentSync(): SyncState {
    return this.syncState;
  }

  // --- live channel ---------------------------------------------------------------------------

  subscribe(h: BackendEvents): () => void {
    const ctl = new AbortController();
    if (h.sync) {
      const f = h.sync;
      this.syncListeners.add(f);
      ctl.signal.addEventListener('abort', () => this.syncListeners.delete(f));
      f(this.syncState);
    }
    const live = new LiveChannel(this, h, ctl.signal);
    this.channels.add(live);
    ctl.signal.addEventListener('abort', () => this.channels.delete(live));
    void live.run();
    if (typeof window !== 'undefined') {
      const wake = () => live.wake();
      const down = () => this.setSync({ online: false, live: false });
      window.addEventListener('online', wake, { signal: ctl.signal });
      window.addEventListener('offline', down, { signal: ctl.signal });
    }
    return () => ctl.abort();
  }

  /** For the live channel: open the stream (or throw). */
  async openLive(signal: AbortSignal): Promise<Response> {
    const token = this.token;
    if (!token) throw new BackendError({ code: 'not_joined', message: 'Not joined.', retryable: false }, 401);
    const res = await this.f(`${this.base}/v1/live`, {
      headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' },
      cache: 'no-store',
      signal,
    });
    if (!res.ok || !res.body) throw await errorOf(res);
    return res;
  }

  liveState(up: boolean, error: string | null = null): void {
    if (up) this.contact(true);
    this.setSync(up ? { live: true } : { live: false, ...(error ? { online: false, last_error: error } : {}) });
  }
}

/**
 * The reconnecting reader of `GET /v1/live`: exponential backoff with jitter between attempts,
 * reset once a connection has stayed up a while; stops for good on 401 (revoked).
 */
export class LiveChannel {
  private backoff = new Backoff({ base: 1000, max: 15_000, resetAfter: 10_000 });
  private wakeUp: (() => void) | null = null;
  private conn: AbortController | null = null;

  constructor(
    private readonly http: Pick<HttpBackend, 'openLive' | 'liveState' | 'token'>,
    private readonly h: BackendEvents,
    private readonly signal: AbortSignal,
    private readonly sleepFn: (ms: number, signal: AbortSignal, wake: (f: () => void) => void) => Promise<void> = sleep,
    private readonly now: () => number = Date.now,
  ) {}

  /** Try again now (the browser came back online, or has just joined). */
  wake(): void {
    this.wakeUp?.();
  }

  /** Drops the current connection (signed out) and starts over. */
  restart(): void {
    this.conn?.abort();
    this.wake();
  }

  /** Sleeps until woken (no credential yet, or it was refused). */
  private idle(): Promise<void> {
    return this.sleepFn(2_000_000_000, this.signal, (f) => (this.wakeUp = f));
  }

  async run(): Promise<void> {
    while (!this.signal.aborted) {
      if (!this.http.token) {
        // Not joined yet: nothing to listen to until join() wakes us.
        await this.idle();
        this.wakeUp = null;
        continue;
      }
      const started = this.now();
      let error: string | null = null;
      const conn = new AbortController();
      this.conn = conn;
      const stop = () => conn.abort();
      this.signal.addEventListener('abort', stop);
      try {
        const res = await this.http.openLive(conn.signal);
        this.http.liveState(true);
        // We may have missed events while disconnected: everything may have changed.
        this.h.changed?.([]);
        await readSse(res.body as ReadableStream<Uint8Array>, (e) => this.dispatch(e));
        error = null;
      } catch (e) {
        if (this.signal.aborted) return;
        if (conn.signal.aborted) {
          // restart(): signed out or joined again; go round at once.
          this.http.liveState(false);
          continue;
        }
        if (e instanceof BackendError && (e.status === 401 || e.status === 403)) {
          // Revoked: waiting will not help. Listen again only after a new join.
          this.http.liveState(false, e.message);
          await this.idle();
          this.wakeUp = null;
          continue;
        }
        error = "Offline: the live connection to the server dropped; reconnecting.";
      } finally {
        this.signal.removeEventListener('abort', stop);
        this.conn = null;
      }
      if (this.signal.aborted) return;
      this.http.liveState(false, error);
      this.backoff.dropped(this.now() - started);
      await this.sleepFn(this.backoff.next(), this.signal, (f) => (this.wakeUp = f));
      this.wakeUp = null;
    }
  }

  dispatch(e: SseEvent): void {
    let data: unknown;
    try {
      data = JSON.parse(e.data);
    } catch {
      return;
    }
    switch (e.event) {
      case 'changed': {
        const docs = (data as { docs?: string[] }).docs ?? [];
        this.h.changed?.(docs);
        break;
      }
      case 'presence':
        this.h.presence?.(Array.isArray(data) ? (data as PresenceView[]) : [data as PresenceView]);
        break;
      case 'alert':
        this.h.alert?.(data as AlertEvent);
        break;
      case 'kudos':
        this.h.kudos?.(data as Kudos);
        break;
      default:
        break;
    }
  }
}

function sleep(ms: number, signal: AbortSignal, wake: (f: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done);
    wake(done);
  });
}

async function errorOf(res: Response): Promise<BackendError> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  if (isApiError(body)) return new BackendError(body, res.status);
  const message =
    res.status === 401
      ? "This browser's access was revoked or has expired. Ask a lead for a new invite and join again."
      : res.status === 404
        ? 'The server does not know this (it may be too old for this page, or it was deleted).'
        : res.status >= 500
          ? 'The server could not answer: try again later.'
          : `The server refused the request (HTTP ${res.status}).`;
  return new BackendError({ code: `http_${res.status}`, message, retryable: res.status >= 500 }, res.status);
}

/** localStorage, or a memory store where it is unavailable (storage disabled: sign-in lasts the tab). */
function browserStorage(): KeyValue {
  try {
    const ls = globalThis.localStorage;
    if (ls) return ls;
  } catch {
    /* SecurityError: storage disabled */
  }
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
  };
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

function codeOfLink(link: string): string | null {
  try {
    return new URL(link.trim()).searchParams.get('code');
  } catch {
    return null;
  }
}

function browserLabel(): string {
  const ua = typeof navigator === 'undefined' ? '' : navigator.userAgent;
  const browser = /Firefox\//.test(ua)
    ? 'Firefox'
    : /Edg\//.test(ua)
      ? 'Edge'
      : /Chrom(e|ium)\//.test(ua)
        ? 'Chromium'
        : /Safari\//.test(ua)
          ? 'Safari'
          : 'a browser';
  return `Dashboard in ${browser}`;
}
