// The app's backend: Tauri commands over the device's own engine (crates/kith-client), and the
// `kith://...` events it emits.
//
// ARGUMENT CONVENTION: every command is invoked with ONE argument object named `input`:
//   invoke('check_in', { input: { status: 'ok', mood: 4 } })
// so each Rust command is written as `fn check_in(input: CheckInInput, ...)` (Tauri 2 matches
// argument names; with a single `input` there is no camelCase/snake_case conversion to get
// wrong: the fields inside `input` are snake_case, as serde expects). Commands without
// parameters get `{ input: {} }`, which a Rust command that takes no `input` simply ignores.

import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
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
  MemberEdit,
  PolicyEdit,
  PresenceView,
  Settings,
  ShiftView,
  SyncState,
  TeamView,
  WriteResult,
} from '../types';
import {
  toBackendError,
  type AckInput,
  type Backend,
  type BackendEvents,
  type CheckInInput,
  type EndInput,
  type ExtendInput,
  type JoinInput,
  type StartShiftInput,
} from './backend';

/** Invokes `cmd` with `{ input }`, turning a rejection into a BackendError. */
export async function call<T>(cmd: string, input: object = {}): Promise<T> {
  try {
    return await invoke<T>(cmd, { input: stripUndefined(input) });
  } catch (e) {
    throw toBackendError(e);
  }
}

/** Drops undefined fields so Rust sees a missing Option rather than a wrong type. */
export function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export class TauriBackend implements Backend {
  readonly kind = 'tauri' as const;
  readonly canWork = true;

  appState(): Promise<AppState> {
    return call('app_state');
  }
  join(input: JoinInput): Promise<AppState> {
    return call('join', input);
  }
  startShift(input: StartShiftInput): Promise<WriteResult> {
    return call('start_shift', input);
  }
  checkIn(input: CheckInInput): Promise<WriteResult> {
    return call('check_in', input);
  }
  extendShift(input: ExtendInput): Promise<WriteResult> {
    return call('extend_shift', input);
  }
  endShift(input: EndInput): Promise<WriteResult> {
    return call('end_shift', input);
  }
  ack(input: AckInput): Promise<WriteResult> {
    return call('ack', input);
  }
  board(): Promise<BoardResponse> {
    return call('board');
  }
  shift(id: string): Promise<ShiftView> {
    return call('shift', { id });
  }
  history(member?: string): Promise<ShiftView[]> {
    return call('history', { member });
  }
  health(days: number): Promise<HealthResponse> {
    return call('health', { days });
  }
  alerts(all?: boolean): Promise<AlertList> {
    return call('alerts', { all });
  }
  claimAlert(id: string): Promise<AlertView> {
    return call('claim_alert', { id });
  }
  resolveAlert(id: string, note: string): Promise<AlertView> {
    return call('resolve_alert', { id, note });
  }
  async notify(title: string, body: string): Promise<void> {
    await call<unknown>('notify', { title, body });
  }
  takeOverAlert(id: string): Promise<AlertView> {
    return call('take_over_alert', { id });
  }
  assignAlert(id: string, member: string): Promise<AlertView> {
    return call('assign_alert', { id, member });
  }
  teamView(): Promise<TeamView> {
    return call('team_view');
  }
  editPolicy(policy: PolicyEdit): Promise<TeamView> {
    return call('edit_policy', { policy });
  }
  editMember(member: string, edit: MemberEdit): Promise<TeamView> {
    return call('edit_member', { member, edit: stripUndefined(edit) });
  }
  invite(role: 'member' | 'lead', uses: number): Promise<InviteResponse> {
    return call('invite', { role, uses });
  }
  devices(): Promise<DeviceList> {
    return call('devices');
  }
  revokeDevice(id: string): Promise<DeviceList> {
    return call('revoke_device', { device: id });
  }
  async kudos(to: string): Promise<void> {
    await call<unknown>('kudos', { to });
  }
  saveSettings(settings: Settings): Promise<AppState> {
    return call('save_settings', { settings });
  }
  exportData(): Promise<string> {
    return call('export_data');
  }
  syncNow(): Promise<SyncState> {
    return call('sync_now');
  }
  /** The link the app was opened with: the `kith://join-link` event may fire before we listen. */
  pendingJoinLink(): Promise<string | null> {
    return call('pending_join_link');
  }

  subscribe(h: BackendEvents): () => void {
    let stopped = false;
    const unlisteners: UnlistenFn[] = [];
    const on = <T>(event: string, f: ((p: T) => void) | undefined) => {
      if (!f) return;
      listen<T>(event, (e) => f(e.payload))
        .then((u) => (stopped ? u() : unlisteners.push(u)))
        .catch((e: unknown) => console.error(`listening to ${event} failed`, e));
    };
    on<SyncState>('kith://sync', h.sync);
    on<PresenceView[]>('kith://presence', h.presence);
    on<{ docs: string[] }>('kith://changed', h.changed && ((p) => h.changed?.(p?.docs ?? [])));
    on<AlertEvent>('kith://alert', h.alert);
    on<Kudos>('kith://kudos', h.kudos);
    on<string>('kith://join-link', h.joinLink);
    return () => {
      stopped = true;
      for (const u of unlisteners.splice(0)) u();
    };
  }
}
