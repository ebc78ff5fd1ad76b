// The phone web app's backend: Kith's own engine (crates/kith-core, compiled to WebAssembly in
// crates/kith-web) running in the page, over IndexedDB (./idb.ts) and fetch. This file is only the
// driver: the engine holds the documents and decides (the same write functions, validation, sync
// protocol and views as the desktop app); here its effects are carried out:
//
//   persist  → one strict IndexedDB transaction, made by a dedicated worker (./idb.worker.ts)
//              once it said it is ready, here until then and if it cannot run or fails;
//              `persisted` once it has committed. A check-in is saved only then (the engine
//              holds its answer until this).
//   sync     → POST /v1/sync (CBOR) with this device's token; the answer goes back in.
//   join     → POST /v1/join.
//   wake_at  → one timer. The engine also hears `poke` when the browser comes back online, when
//              the page comes to the front, when the live channel says documents changed, and
//              when the service worker's Background Sync fires.
//   reply / status / changed / remind → the screens.
//
// What only the server knows (its board with presence, alerts, claiming, waves) comes from its
// JSON API through HttpBackend with this device's token, as in the dashboard; offline, the board
// comes from the documents on this phone.

import type {
  AlertList,
  AlertView,
  AppState,
  BoardResponse,
  DeviceList,
  HealthResponse,
  InviteResponse,
  MemberEdit,
  PolicyEdit,
  TeamView,
  ReminderView,
  Settings,
  ShiftView,
  SyncState,
  WriteResult,
} from '../types';
import {
  BackendError,
  isApiError,
  type AckInput,
  type Backend,
  type BackendEvents,
  type CheckInInput,
  type EndInput,
  type ExtendInput,
  type JoinInput,
  type StartShiftInput,
  type StorageInfo,
} from './backend';
import { HttpBackend } from './http';
import { commit, loadAll, openDb, type Records, type Write } from './idb';
import type { PersistAnswer, PersistRequest, WriterReady } from './idb.worker';

/** The engine's JS glue, if it was built (scripts/lib/web.sh); none: the browser gets the dashboard. */
const engineModules = import.meta.glob('../../wasm/kith_web.js');

/** What this file uses of the engine (crates/kith-web). */
type Engine = {
  handle(now: number, event: unknown): Effect[];
  answered(now: number, task: number, body: Uint8Array): Effect[];
  take_opening(): Effect[];
  token(): string | undefined;
  server(): string | undefined;
  stored_bytes(): number;
  free(): void;
};
type EngineModule = {
  default: () => Promise<unknown>;
  Engine: { open(records: Records, now: number, label: string, seed: number): Engine };
};

type Failure = { message: string; retryable: boolean; retry_after_ms?: number | null; unauthorized?: boolean; code?: string | null };

type Effect =
  | { effect: 'persist'; task: number; writes: Write[] }
  | { effect: 'sync'; task: number; server: string; body: Uint8Array }
  | { effect: 'join'; task: number; server: string; request: unknown }
  | { effect: 'reply'; id: number; result: { Ok: unknown } | { Err: { code: string; message: string; retryable: boolean } } }
  | { effect: 'status'; sync: SyncState }
  | { effect: 'changed'; docs: string[] }
  | { effect: 'remind'; reminder: ReminderView }
  | { effect: 'wake_at'; at_ms: number }
  | { effect: 'reload'; reason: string };

/** Set once this browser joined through the engine: startup picks this backend again (./index.ts). */
export const DEVICE_KEY = 'kith.device';

/** Whether this browser can run the web app: the engine was built, and WebAssembly and IndexedDB exist. */
export function webAppAvailable(g: object = globalThis): boolean {
  return Object.keys(engineModules).length > 0 && 'WebAssembly' in g && 'indexedDB' in g;
}

const OFFLINE =
  "Offline: can't reach the Kith server. Your check-ins are saved on this phone and will sync when the connection is back";

/**
 * How long one sync or join request may take before it counts as failed and is retried later, as
 * natively (kith_sync::client::REQUEST_TIMEOUT). Without it a request that never ends (a network
 * that drops without a word) would hold the engine's one sync forever: nothing saved since,
 * an emergency included, would be sent again.
 */
const REQUEST_TIMEOUT_MS = 30_000;

/** A fetch that gives up after REQUEST_TIMEOUT_MS (a timer of the page, so tests can move it). */
async function fetchInTime(url: string, init: RequestInit): Promise<Response> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), REQUEST_TIMEOUT_MS);
  try {
    const res = await fetch(url, { ...init, signal: stop.signal });
    // The body is read after this returns: it stays under the same timer until it is read.
    const body = await res.arrayBuffer();
    const empty = [101, 204, 205, 304].includes(res.status);
    return new Response(empty ? null : body, { status: res.status, statusText: res.statusText, headers: res.headers });
  } finally {
    clearTimeout(timer);
  }
}

/** How long the board waits for the server before showing the one from this phone's documents. */
const BOARD_WAIT_MS = 5000;

function deviceLabel(): string {
  const ua = typeof navigator === 'undefined' ? '' : navigator.userAgent;
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge' : /Chrom(e|ium)\//.test(ua) ? 'Chromium' : /Safari\//.test(ua) ? 'Safari' : 'a browser';
  return `Kith web app in ${browser}${os ? ` on ${os}` : ''}`;
}

/** The server's error answer as a failure the engine understands. */
async function failureOf(res: Response): Promise<Failure> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  const retryAfter = Number(res.headers.get('Retry-After'));
  const retryable = (isApiError(body) && (body as { retryable?: boolean }).retryable === true) || res.status >= 500 || res.status === 408 || res.status === 429;
  return {
    message: isApiError(body) ? body.message : `The server refused the request (HTTP ${res.status}).`,
    retryable,
    retry_after_ms: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : null,
    unauthorized: res.status === 401,
    code: isApiError(body) ? body.code : `http_${res.status}`,
  };
}

/** The dashboard's HTTP client, with this device's token and its live channel feeding the engine. */
class EngineHttp extends HttpBackend {
  onLive: (up: boolean) => void = () => {};
  override liveState(up: boolean): void {
    this.onLive(up);
  }
}

export class WasmBackend implements Backend {
  readonly kind = 'wasm' as const;
  readonly canWork = true;

  private engine: Engine | null = null;
  private db: IDBDatabase | null = null;
  private ready: Promise<void>;
  private nextId = 1;
  private waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: BackendError) => void }>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private status: SyncState | null = null;
  private handlers = new Set<BackendEvents>();
  private readonly http: EngineHttp;
  /** When each persist began: for a command's, when the command was given (the tap). */
  private persistStarted = new Map<number, { t0: number; tx0: number; command: boolean }>();
  /** While a command is handled: when it was given. */
  private commandAt: number | null = null;
  /** The storage writer (./idb.worker.ts), once it said it is ready; null: commits are made here. */
  private writer: Worker | null = null;
  /** Whether the writer was started (once: if it fails, the page commits from then on). */
  private writerStarted = false;
  /**
   * Batches given to the writer and not answered yet, in the order given, by a number of their
   * own (an engine's task numbers start again after a reload): if the writer fails, the page
   * commits them itself.
   */
  private writing = new Map<number, { task: number; engine: Engine | null; writes: Write[] }>();
  private nextBatch = 1;

  constructor() {
    this.http = new EngineHttp({
      // The token is the engine's (kept with its documents), never in localStorage.
      storage: {
        getItem: (k) => (k === 'kith.token' ? (this.engine?.token() ?? null) : null),
        setItem: () => {},
        removeItem: () => {},
      },
    });
    this.http.onLive = (up) => this.event({ event: 'live', up });
    this.ready = this.open();
    if (typeof window !== 'undefined') {
      const poke = () => this.event({ event: 'poke' });
      window.addEventListener('online', poke);
      window.addEventListener('focus', poke);
      document.addEventListener('visibilitychange', () => {
        if (document.visibilityState === 'visible') poke();
      });
      // The service worker's Background Sync: the connection is back.
      navigator.serviceWorker?.addEventListener('message', (e: MessageEvent) => {
        if ((e.data as { type?: string } | null)?.type === 'kith-sync') poke();
      });
    }
  }

  private async open(): Promise<void> {
    const t0 = performance.now();
    const load = Object.values(engineModules)[0];
    if (!load) throw new BackendError({ code: 'internal', message: 'This build of Kith has no web engine.', retryable: false });
    const [mod, db] = await Promise.all([load() as Promise<EngineModule>, openDb()]);
    await mod.default();
    const records = await loadAll(db);
    this.db = db;
    // The storage worker once the app is on screen (its start is not on the way to "I'm OK");
    // until then the page commits itself.
    if (!this.writerStarted && typeof window !== 'undefined') {
      this.writerStarted = true;
      const start = () => this.startWriter();
      if ('requestIdleCallback' in window) window.requestIdleCallback(start, { timeout: 1000 });
      else setTimeout(start, 200);
    }
    this.engine = mod.Engine.open(records, Date.now(), deviceLabel(), Math.floor(Math.random() * 2 ** 52));
    this.run(this.engine.take_opening());
    this.http.restartLive();
    // docs/benchmarks.md: loading the engine and this phone's documents.
    performance.measure('kith:open', { start: t0, end: performance.now() });
  }

  /**
   * Starts the storage writer. It takes batches only once it said it is ready: a worker whose
   * script is slow to come, or never comes (offline before the service worker holds it, a
   * server that does not answer), holds nothing, and until then the page commits.
   */
  private startWriter(): void {
    if (typeof Worker === 'undefined') return;
    let w: Worker;
    try {
      w = new Worker(new URL('./idb.worker.ts', import.meta.url), { type: 'module' });
    } catch {
      return;
    }
    let failed = false;
    w.onmessage = (e: MessageEvent<PersistAnswer | WriterReady>) => {
      if ('ready' in e.data) {
        if (!failed) this.writer = w;
        return;
      }
      this.written(e.data);
    };
    w.onerror = (e) => {
      e.preventDefault();
      failed = true;
      this.writerFailed(w, e.message || 'its script could not be loaded');
    };
  }

  /**
   * The writer could not start or failed: commits are made here from now on, and the batches it
   * had not answered are committed here, in the order they were given. One it did commit is
   * committed again with the same contents (every write puts or deletes by key, and what it
   * committed is a prefix of what it held), so what is stored is the same either way; each is
   * answered when the page's own commit has completed, or failed if that fails.
   */
  private writerFailed(w: Worker, why: string): void {
    console.error('Kith: the storage worker failed, saving from the page instead:', why);
    if (this.writer === w) this.writer = null;
    w.terminate();
    const held = [...this.writing.values()];
    this.writing.clear();
    for (const b of held) {
      if (b.engine === this.engine) this.commitHere(b.task, b.writes);
    }
  }

  /** The writer's answer for one batch. */
  private written(a: PersistAnswer): void {
    const batch = this.writing.get(a.task);
    if (!batch) return;
    this.writing.delete(a.task);
    // Given to an engine that has since been replaced (a reload): not this one's task.
    if (batch.engine !== this.engine) return;
    const task = batch.task;
    const started = this.persistStarted.get(task);
    this.persistStarted.delete(task);
    if (!a.ok) {
      this.event({ event: 'persist_failed', task, error: a.error });
      return;
    }
    // docs/benchmarks.md: from a command (a tap) to its write committed, strictly durable, at the
    // moment the writer heard it.
    if (started?.command) {
      const end = Math.max(started.t0, a.at - performance.timeOrigin);
      performance.measure('kith:saved', { start: started.t0, end });
      performance.measure('kith:commit', { start: started.tx0, end });
    }
    this.event({ event: 'persisted', task });
  }

  // --- the driver -----------------------------------------------------------------------------

  private event(ev: object): void {
    if (!this.engine) return;
    let effects: Effect[];
    try {
      effects = this.engine.handle(Date.now(), ev);
    } catch (e) {
      console.error('Kith engine:', e);
      return;
    }
    this.run(effects);
  }

  private run(effects: Effect[]): void {
    // Syncs this browser cannot even try: it says it has no network (`navigator.onLine` false
    // is certain; true is not). They fail at once, after the other effects (a timer set after
    // the failure must not be replaced by one of this batch), instead of through a fetch that
    // fails a frame or more later: an edit's answer waits for its sync attempt, so a worker
    // offline would see "saved" only then (docs/benchmarks.md, "The phone web app").
    const cannotSync: number[] = [];
    // The screens refresh after those: an edit's answer (which those give) comes first, and its
    // screen is drawn before the refreshes' reads of the engine.
    const changed: string[][] = [];
    for (const e of effects) {
      switch (e.effect) {
        case 'persist':
          this.persist(e.task, e.writes);
          break;
        case 'sync':
          if (typeof navigator !== 'undefined' && navigator.onLine === false) cannotSync.push(e.task);
          else void this.sync(e.task, e.server, e.body);
          break;
        case 'join':
          void this.join_(e.task, e.server, e.request);
          break;
        case 'reply': {
          const w = this.waiting.get(e.id);
          this.waiting.delete(e.id);
          if ('Ok' in e.result) w?.resolve(e.result.Ok);
          else w?.reject(new BackendError(e.result.Err));
          break;
        }
        case 'status':
          this.status = e.sync;
          for (const h of this.handlers) h.sync?.(e.sync);
          if (e.sync.pending_changes > 0 && !e.sync.online) void this.backgroundSync();
          break;
        case 'changed':
          changed.push(e.docs);
          break;
        case 'remind':
          for (const h of this.handlers) h.reminder?.(e.reminder);
          break;
        case 'wake_at': {
          if (this.timer) clearTimeout(this.timer);
          // Browsers cap timers; a minute at most, and the engine asks again.
          const wait = Math.min(Math.max(0, e.at_ms - Date.now()), 60_000);
          this.timer = setTimeout(() => this.event({ event: 'wake' }), wait);
          break;
        }
        case 'reload':
          console.error('Kith: storage failed, starting over from what is stored:', e.reason);
          this.engine?.free();
          this.engine = null;
          this.ready = this.open();
          break;
      }
    }
    for (const task of cannotSync) this.event({ event: 'sync_failed', task, failure: { message: OFFLINE, retryable: true } });
    for (const docs of changed) for (const h of this.handlers) h.changed?.(docs);
  }

  private persist(task: number, writes: Write[]): void {
    if (!this.db) return;
    const tx0 = performance.now();
    this.persistStarted.set(task, { t0: this.commandAt ?? tx0, tx0, command: this.commandAt !== null });
    if (this.writer) {
      const batch = this.nextBatch++;
      this.writing.set(batch, { task, engine: this.engine, writes });
      this.writer.postMessage({ task: batch, writes } satisfies PersistRequest);
      return;
    }
    this.commitHere(task, writes);
  }

  /** Commits one batch from the page. */
  private commitHere(task: number, writes: Write[]): void {
    const db = this.db;
    const engine = this.engine;
    if (!db) return;
    const tx0 = performance.now();
    commit(
      db,
      writes,
      () => {
        if (engine !== this.engine) return;
        const started = this.persistStarted.get(task);
        this.persistStarted.delete(task);
        // docs/benchmarks.md: from a command (a tap) to its write committed, strictly durable.
        if (started?.command) {
          performance.measure('kith:saved', { start: started.t0, end: performance.now() });
          performance.measure('kith:commit', { start: started.tx0 ?? tx0, end: performance.now() });
        }
        this.event({ event: 'persisted', task });
      },
      (why) => {
        if (engine !== this.engine) return;
        this.persistStarted.delete(task);
        this.event({ event: 'persist_failed', task, error: why });
      },
    );
  }

  private async sync(task: number, server: string, body: Uint8Array): Promise<void> {
    const token = this.engine?.token();
    let res: Response;
    try {
      res = await fetchInTime(`${server}/v1/sync`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/cbor',
          Accept: 'application/cbor',
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
        },
        body: body as BodyInit,
        cache: 'no-store',
      });
    } catch {
      this.event({ event: 'sync_failed', task, failure: { message: OFFLINE, retryable: true } });
      return;
    }
    if (!res.ok) {
      this.event({ event: 'sync_failed', task, failure: await failureOf(res) });
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await res.arrayBuffer());
    } catch {
      this.event({ event: 'sync_failed', task, failure: { message: OFFLINE, retryable: true } });
      return;
    }
    if (!this.engine) return;
    this.run(this.engine.answered(Date.now(), task, bytes));
  }

  private async join_(task: number, server: string, request: unknown): Promise<void> {
    let res: Response;
    try {
      res = await fetchInTime(`${server}/v1/join`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(request),
        cache: 'no-store',
      });
    } catch {
      this.event({ event: 'join_failed', task, failure: { message: OFFLINE, retryable: true, code: 'offline' } });
      return;
    }
    if (!res.ok) {
      this.event({ event: 'join_failed', task, failure: await failureOf(res) });
      return;
    }
    this.event({ event: 'joined', task, response: await res.json() });
  }

  /** Asks the service worker to wake us when the connection returns (Chromium's Background Sync). */
  private async backgroundSync(): Promise<void> {
    try {
      const reg = (await navigator.serviceWorker?.ready) as (ServiceWorkerRegistration & { sync?: { register(tag: string): Promise<void> } }) | undefined;
      await reg?.sync?.register('kith-sync');
    } catch {
      /* not available here: the online event and the timer still sync */
    }
  }

  private async command<T>(command: string, input?: unknown): Promise<T> {
    await this.ready;
    const id = this.nextId++;
    const p = new Promise<T>((resolve, reject) => this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject }));
    const t0 = performance.now();
    this.commandAt = t0;
    // docs/benchmarks.md: when the screens heard the answer (for a write: after it committed, and
    // after the tap's frame, before which Chromium gives the page no event).
    void p.then(
      () => performance.measure(`kith:answered:${command}`, { start: t0, end: performance.now() }),
      () => {},
    );
    try {
      this.event(input === undefined ? { event: 'command', id, command } : { event: 'command', id, command, input });
    } finally {
      // docs/benchmarks.md: the engine's share (the edit, through the domain's write functions).
      performance.measure(`kith:engine:${command}`, { start: this.commandAt, end: performance.now() });
      this.commandAt = null;
    }
    return p;
  }

  // --- Backend ----------------------------------------------------------------------------------

  appState(): Promise<AppState> {
    return this.command('app_state');
  }

  async join(input: JoinInput): Promise<AppState> {
    const state = await this.command<AppState>('join', {
      server: typeof location === 'undefined' ? input.server : location.origin,
      code: input.code,
      name: input.name,
    });
    try {
      localStorage.setItem(DEVICE_KEY, 'web-app');
    } catch {
      /* storage disabled: the engine's store still knows */
    }
    void this.requestPersistence();
    // Now there is a token to listen with.
    this.http.restartLive();
    return state;
  }

  startShift(input: StartShiftInput): Promise<WriteResult> {
    return this.command('start_shift', input);
  }
  checkIn(input: CheckInInput): Promise<WriteResult> {
    return this.command('check_in', input);
  }
  extendShift(input: ExtendInput): Promise<WriteResult> {
    return this.command('extend_shift', input);
  }
  endShift(input: EndInput): Promise<WriteResult> {
    return this.command('end_shift', input);
  }

  async ack(input: AckInput): Promise<WriteResult> {
    try {
      return await this.command<WriteResult>('ack', input);
    } catch (e) {
      // Not on this phone yet: the server writes the ack on the lead's behalf, as the dashboard does.
      if (e instanceof BackendError && e.code === 'not_found') return this.http.ack(input);
      throw e;
    }
  }

  async board(): Promise<BoardResponse> {
    await this.ready;
    if (navigator.onLine !== false && this.engine?.token()) {
      try {
        return await Promise.race([
          this.http.board(),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), BOARD_WAIT_MS)),
        ]);
      } catch {
        /* the board from this phone's documents, with when they last synced */
      }
    }
    return this.command('local_board');
  }

  async shift(id: string): Promise<ShiftView> {
    try {
      return await this.command<ShiftView>('shift', { id });
    } catch (e) {
      if (e instanceof BackendError && e.code === 'not_found') return this.http.shift(id);
      throw e;
    }
  }

  history(member?: string): Promise<ShiftView[]> {
    return this.command('history', member ? { member } : {});
  }
  health(days: number): Promise<HealthResponse> {
    return this.command('health', { days });
  }
  alerts(all?: boolean): Promise<AlertList> {
    return this.http.alerts(all);
  }
  claimAlert(id: string): Promise<AlertView> {
    return this.http.claimAlert(id);
  }
  resolveAlert(id: string, note: string): Promise<AlertView> {
    return this.http.resolveAlert(id, note);
  }
  kudos(to: string): Promise<void> {
    return this.http.kudos(to);
  }
  // The lead's console: the server's, as in the dashboard (its changes to the team document reach
  // this phone with the next sync).
  takeOverAlert(id: string): Promise<AlertView> {
    return this.http.takeOverAlert(id);
  }
  assignAlert(id: string, member: string): Promise<AlertView> {
    return this.http.assignAlert(id, member);
  }
  teamView(): Promise<TeamView> {
    return this.http.teamView();
  }
  async editPolicy(policy: PolicyEdit): Promise<TeamView> {
    const t = await this.http.editPolicy(policy);
    this.event({ event: 'poke' });
    return t;
  }
  async editMember(member: string, edit: MemberEdit): Promise<TeamView> {
    const t = await this.http.editMember(member, edit);
    this.event({ event: 'poke' });
    return t;
  }
  invite(role: 'member' | 'lead', uses: number): Promise<InviteResponse> {
    return this.http.invite(role, uses);
  }
  devices(): Promise<DeviceList> {
    return this.http.devices();
  }
  revokeDevice(id: string): Promise<DeviceList> {
    return this.http.revokeDevice(id);
  }
  saveSettings(settings: Settings): Promise<AppState> {
    return this.command('save_settings', { settings });
  }
  exportData(): Promise<string> {
    return this.command('export_data');
  }
  syncNow(): Promise<SyncState> {
    return this.command('sync_now');
  }

  async storageInfo(): Promise<StorageInfo> {
    await this.ready;
    const s = typeof navigator === 'undefined' ? undefined : navigator.storage;
    const est = await s?.estimate?.().catch(() => undefined);
    const persisted = (await s?.persisted?.().catch(() => null)) ?? null;
    return {
      usage: est?.usage ?? null,
      quota: est?.quota ?? null,
      persisted,
      documents: this.engine?.stored_bytes() ?? 0,
    };
  }

  async requestPersistence(): Promise<boolean> {
    try {
      return (await navigator.storage?.persist?.()) ?? false;
    } catch {
      return false;
    }
  }

  subscribe(h: BackendEvents): () => void {
    this.handlers.add(h);
    if (this.status) h.sync?.(this.status);
    // The server's live channel: presence, alerts, waves; "changed" pokes the engine to sync.
    const stopLive = this.http.subscribe({
      presence: h.presence,
      alert: h.alert,
      kudos: h.kudos,
      changed: () => this.event({ event: 'poke' }),
    });
    return () => {
      this.handlers.delete(h);
      stopLive();
    };
  }
}
