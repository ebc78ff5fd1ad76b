// The app's reactive state (Svelte 5 runes) over one Backend: what the screens read and the
// actions they call. Screens never talk to the backend directly.

import type {
  AlertEvent,
  AlertView,
  AppState,
  BoardResponse,
  CheckInStatus,
  DeviceList,
  InviteResponse,
  Kudos,
  MemberEdit,
  MemberRef,
  PolicyEdit,
  PresenceView,
  ReminderView,
  Settings,
  ShiftView,
  SyncState,
  TeamView,
  Visibility,
  WriteResult,
} from './types';
import { Bell, alarms } from './alarm';
import { BackendError, toBackendError, type Backend, type JoinInput } from './backend';
import { singleFlight } from './flight';
import { currentPosition } from './geo';
import { beep } from './sound';
import { notify } from './notify';
import { emergencyNotice, writeMessage, type EmergencyNotice } from './offline';
import { parseRoute, routeHash, type Route } from './route';
import { alertKind, type Tone } from './urgency';
import { defaultFormatter, type Formatter } from './time';

export type Toast = { id: number; text: string; tone: Tone };

const OFFLINE_SYNC: SyncState = {
  online: false,
  live: false,
  last_synced_ms: null,
  pending_changes: 0,
  last_error: null,
  needs_attention: false,
  device_unknown: false,
  retrying: null,
  clock_offset_ms: null,
};

export class KithApp {
  readonly backend: Backend;
  readonly fmt: Formatter = defaultFormatter();

  state = $state<AppState | null>(null);
  sync = $state<SyncState>(OFFLINE_SYNC);
  board = $state<BoardResponse | null>(null);
  boardError = $state<string | null>(null);
  alerts = $state<AlertView[]>([]);
  alertsAll = $state(false);
  alertsError = $state<string | null>(null);
  presence = $state<Record<string, PresenceView>>({});
  /** Ticks every second: countdowns read it. */
  now = $state(Date.now());
  ready = $state(false);
  /** A problem loading the app at all (shown instead of the screens). */
  startError = $state<string | null>(null);
  /** Shown on the Join screen (e.g. this device was revoked). */
  joinNotice = $state<string | null>(null);
  joinLink = $state<string | null>(null);
  route = $state<Route>({ name: 'team' });
  /** Polite announcements for screen readers and a visible toast. */
  toasts = $state<Toast[]>([]);
  /** After an emergency that has not reached anyone yet. */
  emergency = $state<EmergencyNotice | null>(null);
  /** A write in progress (buttons show it and do not double-send). */
  busy = $state<string | null>(null);
  /** An emergency being sent: never waits for, nor blocks on, another write. */
  sendingEmergency = $state(false);
  /** The roster and policy as a lead edits them (loaded by the People screen). */
  teamView = $state<TeamView | null>(null);

  private toastSeq = 0;
  private seenSteps = new Set<string>();
  private bell = new Bell();
  private stop: Array<() => void> = [];

  constructor(backend: Backend) {
    this.backend = backend;
  }

  // --- derived ------------------------------------------------------------------------------

  get me() {
    return this.state?.me ?? null;
  }
  get joined(): boolean {
    return this.state?.joined === true && this.me !== null;
  }
  get isLead(): boolean {
    const r = this.me?.role;
    return r === 'lead' || r === 'admin';
  }
  /** The dashboard: a browser without Kith's engine (it only shows what the server says). */
  get browser(): boolean {
    return this.backend.kind === 'http';
  }
  /** Running in a browser page (the dashboard or the phone web app), not in the Tauri app. */
  get inBrowser(): boolean {
    return this.backend.kind !== 'tauri';
  }
  /** This device holds its own documents (the app, or the web app): its state comes from them. */
  get local(): boolean {
    return this.backend.kind !== 'http';
  }
  get team(): MemberRef[] {
    return this.state?.team ?? [];
  }
  get openAlerts(): AlertView[] {
    return this.alerts.filter((a) => a.state !== 'resolved');
  }
  /** Urgent alerts nobody has claimed (not about me): the banner on every screen. */
  get alarms(): AlertView[] {
    return alarms([this.alerts, this.board?.alerts ?? []], this.me?.member_id);
  }
  /** "Now" on the server's clock, for times that come from the server (board, alerts). */
  get serverNow(): number {
    return this.now + (this.sync.clock_offset_ms ?? 0);
  }
  /** "Now" for a board: the server's clock for a server board, the device's for a local one. */
  get boardNow(): number {
    return this.board?.source === 'local' ? this.now : this.serverNow;
  }
  nameOf(id: string | null | undefined): string {
    if (!id) return 'Someone';
    return this.team.find((m) => m.id === id)?.name ?? this.board?.rows.find((r) => r.member === id)?.name ?? 'Someone';
  }

  // --- start --------------------------------------------------------------------------------

  async start(): Promise<void> {
    this.stop.push(
      this.backend.subscribe({
        sync: (s) => {
          this.sync = s;
        },
        presence: (ps) => this.onPresence(ps),
        changed: () => void this.refreshAll(),
        alert: (e) => this.onAlert(e),
        kudos: (k) => this.onKudos(k),
        joinLink: (l) => {
          this.joinLink = l;
          if (!this.joined) this.go({ name: 'join' });
        },
        reminder: (r) => this.onReminder(r),
      }),
    );
    const tick = setInterval(() => {
      this.now = Date.now();
      this.ringAlarms();
    }, 1000);
    // The board's statuses move with time (due soon → overdue) without any event: refresh now and then.
    const poll = setInterval(() => {
      if (this.joined && !document.hidden) void this.refreshBoard();
    }, 30_000);
    this.stop.push(() => clearInterval(tick), () => clearInterval(poll));
    const onHash = () => {
      const r = parseRoute(location.hash, this.defaultRoute());
      this.route = r.name === 'shift' && this.browser ? { name: 'team' } : r;
    };
    window.addEventListener('hashchange', onHash);
    this.stop.push(() => window.removeEventListener('hashchange', onHash));

    try {
      await this.loadState();
    } catch (e) {
      const err = toBackendError(e);
      if (err.status === 401 || err.code === 'unauthorized') {
        this.joinNotice = err.message;
        this.state = null;
      } else {
        this.startError = err.message;
      }
    }
    this.route = this.joined ? parseRoute(location.hash, this.defaultRoute()) : { name: 'join' };
    if (this.route.name === 'shift' && this.browser) this.route = { name: 'team' };
    if (!this.joined && this.backend.pendingJoinLink) {
      const link = await this.backend.pendingJoinLink().catch(() => null);
      if (link) this.joinLink = link;
    }
    this.ready = true;
    if (this.joined) void this.refreshAll();
  }

  destroy(): void {
    for (const f of this.stop.splice(0)) f();
  }

  defaultRoute(): Route {
    if (!this.joined) return { name: 'join' };
    // A lead in a browser keeps the dashboard (and may check in from My shift).
    if (this.browser || (this.inBrowser && this.isLead)) return { name: 'team' };
    return { name: 'shift' };
  }

  go(r: Route): void {
    // The browser cannot check in: it opens on the board, never on an empty My shift.
    if (r.name === 'shift' && this.browser) r = { name: 'team' };
    this.route = r;
    const h = routeHash(r);
    if (location.hash !== h) history.pushState(null, '', h);
  }

  private async loadState(): Promise<void> {
    const s = await this.backend.appState();
    this.applyState(s);
  }

  private applyState(s: AppState): void {
    this.state = s;
    this.sync = s.sync;
  }

  // --- refresh --------------------------------------------------------------------------------

  refreshState = singleFlight(async () => {
    if (!this.joined) return;
    try {
      this.applyState(await this.backend.appState());
    } catch (e) {
      const err = toBackendError(e);
      if (err.status === 401) this.lostAccess(err.message);
    }
  });

  refreshBoard = singleFlight(async () => {
    if (!this.joined) return;
    try {
      this.board = await this.backend.board();
      this.boardError = null;
      // Someone new joined: the roster (names, buddy pickers) comes with the state.
      const known = new Set(this.team.map((m) => m.id));
      if (this.board.rows.some((r) => !known.has(r.member))) void this.refreshState();
      for (const row of this.board.rows) {
        const p = this.presence[row.member];
        if (p && p.online !== row.online) this.presence = { ...this.presence, [row.member]: { ...p, online: row.online } };
      }
    } catch (e) {
      this.boardError = toBackendError(e).message;
    }
  });

  refreshAlerts = singleFlight(async () => {
    if (!this.joined) return;
    try {
      this.alerts = (await this.backend.alerts(this.alertsAll)).alerts;
      this.alertsError = null;
      for (const a of this.alerts) this.seenSteps.add(`${a.id}:${a.steps_fired - 1}`);
    } catch (e) {
      this.alertsError = toBackendError(e).message;
    }
  });

  async refreshAll(): Promise<void> {
    await Promise.all([
      // In the app the state holds my shift and sync; in the browser only identity and roster.
      this.local ? this.refreshState() : Promise.resolve(),
      this.refreshBoard(),
      this.refreshAlerts(),
    ]);
  }

  private lostAccess(message: string): void {
    this.joinNotice = message;
    this.state = null;
    this.board = null;
    this.alerts = [];
    this.go({ name: 'join' });
  }

  // --- events -----------------------------------------------------------------------------

  private onPresence(ps: PresenceView[]): void {
    const next = { ...this.presence };
    for (const p of ps) next[p.member_id] = p;
    this.presence = next;
  }

  private onAlert(e: AlertEvent): void {
    // Shown at once from the event itself (the banner must not wait for a fetch); the refresh
    // brings what the event does not carry (what the worker said, the history) a moment later.
    this.alerts = mergeAlert(this.alerts, e.alert);
    if (e.alert.urgent) this.ringAlarms();
    void this.refreshAlerts();
    void this.refreshBoard();
    if (this.local) void this.refreshState();
    if (e.action !== 'step') return;
    const key = `${e.alert.id}:${e.step ?? 0}`;
    if (this.seenSteps.has(key)) return;
    this.seenSteps.add(key);
    const aboutMe = e.alert.worker === this.me?.member_id;
    // Urgent ones ring (sound and notification) from the alarm bell, until someone claims them.
    if (e.alert.urgent || aboutMe) return;
    const title = `${alertKind(e.alert.kind)}: ${e.alert.worker_name}`;
    // In the app the Rust side raises native notifications; a browser does it here.
    if (this.inBrowser) {
      notify(title, 'Open Kith to see who owns it.', e.alert.id, () => this.go({ name: 'alerts' }));
    }
    this.say(title, 'warn');
  }

  /** Sound and a system notification for each new unclaimed urgent alert, again every 30 s
   * until someone claims it. */
  private ringAlarms(): void {
    const ring = this.bell.ring(this.alarms, this.now);
    if (ring.length === 0) return;
    beep();
    const first = ring[0] as AlertView;
    const title =
      ring.length === 1 ? `${alertKind(first.kind).toUpperCase()}: ${first.worker_name}` : `${ring.length} people need someone now`;
    const body = first.said?.note ? `“${first.said.note}” Nobody has claimed it yet.` : 'Nobody has claimed it yet: open Kith to claim it.';
    if (this.inBrowser) notify(title, body, 'kith-alarm', () => this.go({ name: 'alerts' }));
    // In the app the Rust side notifies each new step itself: the UI adds the repeats.
    else if (this.bell.repeating) void this.backend.notify?.(title, body);
  }

  /** The web app's engine says a check-in or the planned end is coming up (the app notifies natively). */
  private onReminder(r: ReminderView): void {
    const title = r.reason === 'planned_end' ? 'Your shift is due to end soon' : 'Check-in due soon';
    const body = `Due at ${this.fmt.clock(r.deadline_ms)}. Open Kith and tap "I'm OK" (or extend the shift).`;
    notify(title, body, `reminder:${r.shift}:${r.reason}`, () => this.go({ name: 'shift' }));
    this.say(`${title}: due at ${this.fmt.clock(r.deadline_ms)}.`, 'warn');
    void this.refreshState();
  }

  private onKudos(k: Kudos): void {
    if (k.to === this.me?.member_id) this.say(`${k.from_name} waved at you 👋`, 'info');
  }

  // --- messages -------------------------------------------------------------------------------

  say(text: string, tone: Tone = 'info', ms = 5000): void {
    const id = ++this.toastSeq;
    this.toasts = [...this.toasts, { id, text, tone }].slice(-2);
    setTimeout(() => this.dismiss(id), ms);
  }

  dismiss(id: number): void {
    this.toasts = this.toasts.filter((t) => t.id !== id);
  }

  /** Runs a write, marking it busy; returns the error message (or null). An emergency never
   * waits for another write and never makes others wait: it runs at once, on its own flag. */
  private async run<T>(what: string, f: () => Promise<T>): Promise<{ ok: T } | { error: string }> {
    const urgent = what === 'emergency';
    if (urgent) {
      if (this.sendingEmergency) return { error: 'Your emergency is being sent.' };
      this.sendingEmergency = true;
    } else {
      if (this.busy) return { error: 'Still working on the last action.' };
      this.busy = what;
    }
    try {
      return { ok: await f() };
    } catch (e) {
      return { error: toBackendError(e).message };
    } finally {
      if (urgent) this.sendingEmergency = false;
      else this.busy = null;
    }
  }

  private afterWrite(r: WriteResult, done: string, toast = true): void {
    if (this.state) {
      const shift = r.shift.active ? r.shift : null;
      this.state = { ...this.state, shift, last_shift: shift ? this.state.last_shift : r.shift };
    }
    if (toast) this.say(writeMessage(done, r.shared, this.sync.online, r.queued ?? null), r.shared ? 'ok' : 'warn');
    void this.refreshState();
    void this.refreshBoard();
  }

  // --- actions ----------------------------------------------------------------------------------

  async join(input: JoinInput): Promise<string | null> {
    const r = await this.run('join', () => this.backend.join(input));
    if ('error' in r) return r.error;
    this.joinNotice = null;
    this.joinLink = null;
    this.applyState(r.ok);
    this.go(this.defaultRoute());
    void this.refreshAll();
    return null;
  }

  async startShift(input: { purpose: string; planned_end: number; interval_s: number; buddies: string[] }): Promise<string | null> {
    const r = await this.run('start', () => this.backend.startShift(input));
    if ('error' in r) return r.error;
    this.afterWrite(r.ok, 'Shift started');
    return null;
  }

  async checkIn(
    status: CheckInStatus,
    extra: { mood?: number | null; confidence?: number | null; note?: string; note_visibility?: Visibility } = {},
  ): Promise<string | null> {
    this.emergency = null;
    const precision = this.state?.settings.location_precision ?? 'none';
    const r = await this.run(status, async () => {
      // An emergency never waits for a position fix.
      const pos = status === 'emergency' ? null : await currentPosition(precision, 3000);
      return this.backend.checkIn({
        status,
        mood: extra.mood ?? undefined,
        confidence: extra.confidence ?? undefined,
        note: extra.note?.trim() ? extra.note.trim() : undefined,
        note_visibility: extra.note?.trim() ? extra.note_visibility : undefined,
        lat: pos?.lat,
        lon: pos?.lon,
      });
    });
    if ('error' in r) return r.error;
    const words = { ok: "Checked in: I'm OK", support: 'Support request', emergency: 'Emergency' } as const;
    if (status === 'emergency') {
      const retrying = this.sync.online ? (r.ok.queued ?? this.sync.retrying ?? null) : null;
      this.emergency = emergencyNotice(r.ok.shared, this.me?.team_phone ?? this.board?.phone ?? null, retrying);
    }
    // An emergency that reached no one is told in its own notice on My shift, not in a toast.
    this.afterWrite(r.ok, words[status], !(status === 'emergency' && !r.ok.shared));
    return null;
  }

  async extend(newEnd: number, reason: string): Promise<string | null> {
    const r = await this.run('extend', () => this.backend.extendShift({ new_end: newEnd, reason: reason.trim() }));
    if ('error' in r) return r.error;
    this.afterWrite(r.ok, 'Planned end extended');
    return null;
  }

  async endShift(note: string): Promise<string | null> {
    const r = await this.run('end', () => this.backend.endShift(note.trim() ? { note: note.trim() } : {}));
    if ('error' in r) return r.error;
    this.emergency = null;
    this.afterWrite(r.ok, 'Shift ended');
    return null;
  }

  async ack(shift: string, checkin: string, reply: string): Promise<{ shift: ShiftView } | { error: string }> {
    const r = await this.run('ack', () =>
      this.backend.ack({ shift, checkin, reply: reply.trim() ? reply.trim() : undefined }),
    );
    if ('error' in r) return r;
    this.say(r.ok.shared ? 'Reply sent.' : 'Reply saved on this device, it will be sent when online.', 'ok');
    void this.refreshBoard();
    return { shift: r.ok.shift };
  }

  async claim(a: AlertView): Promise<string | null> {
    const r = await this.run('claim', () => this.backend.claimAlert(a.id));
    if ('error' in r) return r.error;
    this.replaceAlert(r.ok);
    this.say(`You own the alert for ${a.worker_name} now.`, 'ok');
    void this.refreshBoard();
    return null;
  }

  async resolve(a: AlertView, note: string): Promise<string | null> {
    const r = await this.run('resolve', () => this.backend.resolveAlert(a.id, note.trim()));
    if ('error' in r) return r.error;
    this.replaceAlert(r.ok);
    this.say(`Alert for ${a.worker_name} resolved.`, 'ok');
    void this.refreshAlerts();
    void this.refreshBoard();
    return null;
  }

  /** Reply to an alert: acknowledges its check-in (or the shift's latest) with the reply. */
  async replyToAlert(a: AlertView, reply: string): Promise<string | null> {
    let checkin = a.checkin;
    if (!checkin) {
      try {
        const s = await this.backend.shift(a.shift);
        checkin = s.checkins[0]?.id ?? null;
      } catch (e) {
        return toBackendError(e).message;
      }
    }
    if (!checkin) return `${a.worker_name} has not checked in during this shift yet, so there is nothing to reply to: phone them instead.`;
    const r = await this.ack(a.shift, checkin, reply);
    return 'error' in r ? r.error : null;
  }

  private replaceAlert(a: AlertView): void {
    this.alerts = this.alerts.map((x) => (x.id === a.id ? a : x));
    if (this.board) this.board = { ...this.board, alerts: this.board.alerts.map((x) => (x.id === a.id ? a : x)) };
  }

  /** A lead takes over an alert someone else claimed. */
  async takeOver(a: AlertView): Promise<string | null> {
    const r = await this.run('takeover', () => this.backend.takeOverAlert(a.id));
    if ('error' in r) return r.error;
    this.replaceAlert(r.ok);
    this.say(`You own the alert for ${a.worker_name} now.`, 'ok');
    void this.refreshAlerts();
    void this.refreshBoard();
    return null;
  }

  /** A lead gives an alert to a lead or a buddy of the worker. */
  async assign(a: AlertView, member: string): Promise<string | null> {
    const r = await this.run('assign', () => this.backend.assignAlert(a.id, member));
    if ('error' in r) return r.error;
    this.replaceAlert(r.ok);
    this.say(`${r.ok.claimed_by_name ?? 'They'} own${r.ok.claimed_by_name ? 's' : ''} the alert for ${a.worker_name} now.`, 'ok');
    void this.refreshAlerts();
    void this.refreshBoard();
    return null;
  }

  // --- the team, as a lead edits it ------------------------------------------------------------

  async loadTeam(): Promise<string | null> {
    try {
      this.teamView = await this.backend.teamView();
      return null;
    } catch (e) {
      return toBackendError(e).message;
    }
  }

  async editPolicy(p: PolicyEdit): Promise<string | null> {
    const r = await this.run('policy', () => this.backend.editPolicy(p));
    if ('error' in r) return r.error;
    this.teamView = r.ok;
    void this.refreshState();
    return null;
  }

  async editMember(member: string, edit: MemberEdit): Promise<string | null> {
    const r = await this.run('member', () => this.backend.editMember(member, edit));
    if ('error' in r) return r.error;
    this.teamView = r.ok;
    void this.refreshState();
    void this.refreshBoard();
    return null;
  }

  async invite(role: 'member' | 'lead', uses: number): Promise<{ ok: InviteResponse } | { error: string }> {
    return this.run('invite', () => this.backend.invite(role, uses));
  }

  async devices(): Promise<{ ok: DeviceList } | { error: string }> {
    try {
      return { ok: await this.backend.devices() };
    } catch (e) {
      return { error: toBackendError(e).message };
    }
  }

  async revokeDevice(id: string): Promise<{ ok: DeviceList } | { error: string }> {
    return this.run('revoke', () => this.backend.revokeDevice(id));
  }

  async showAllAlerts(all: boolean): Promise<void> {
    this.alertsAll = all;
    await this.refreshAlerts();
  }

  async wave(to: string, name: string): Promise<void> {
    const r = await this.run('wave', () => this.backend.kudos(to));
    if ('error' in r) this.say(r.error, 'danger');
    else this.say(`You waved at ${name}.`, 'ok');
  }

  async saveSettings(s: Settings): Promise<string | null> {
    const r = await this.run('settings', () => this.backend.saveSettings(s));
    if ('error' in r) return r.error;
    this.applyState(r.ok);
    return null;
  }

  async syncNow(): Promise<void> {
    const r = await this.run('sync', () => this.backend.syncNow());
    if ('error' in r) this.say(r.error, 'warn');
    else if (this.local) this.sync = r.ok;
    await this.refreshAll();
  }

  async exportData(): Promise<string | null> {
    const r = await this.run('export', () => this.backend.exportData());
    if ('error' in r) return r.error;
    const blob = new Blob([r.ok], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = `kith-export-${new Date().toISOString().slice(0, 10)}.json`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    return null;
  }

  async signOut(): Promise<void> {
    await this.backend.signOut?.();
    this.state = null;
    this.board = null;
    this.alerts = [];
    this.go({ name: 'join' });
    await this.loadState().catch(() => {});
  }
}

export function isBackendError(e: unknown): e is BackendError {
  return e instanceof BackendError;
}

/** `list` with `a` in it: replaced in place (keeping what only the list has: what the worker
 * said, the history), or put first when new. */
export function mergeAlert(list: AlertView[], a: AlertView): AlertView[] {
  const i = list.findIndex((x) => x.id === a.id);
  if (i < 0) return [a, ...list];
  const old = list[i] as AlertView;
  const merged = { ...a, said: a.said ?? old.said, history: a.history.length > 0 ? a.history : old.history };
  return list.map((x, j) => (j === i ? merged : x));
}
