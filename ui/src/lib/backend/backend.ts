// The one interface the screens talk to. Two implementations, chosen once at startup
// (./index.ts): TauriBackend (the app's engine, through Tauri commands and events) and
// HttpBackend (the browser dashboard, through the server's JSON API and live channel).

import type {
  AlertEvent,
  AlertList,
  AlertView,
  ApiError,
  AppState,
  BoardResponse,
  CheckInStatus,
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
  Visibility,
  WriteResult,
} from '../types';

// Command inputs. In the app each one is passed to its Tauri command as the single argument
// named `input` (see tauri.ts); over HTTP the same shapes become request bodies or paths.

export type {
  JoinInput,
  StartShiftInput,
  CheckInInput,
  ExtendInput,
  EndInput,
  AckInput,
} from '../../generated';
import type { JoinInput, StartShiftInput, CheckInInput, ExtendInput, EndInput, AckInput } from '../../generated';

/** What the backend pushes. Every handler is optional. */
export type BackendEvents = {
  sync?: (s: SyncState) => void;
  presence?: (p: PresenceView[]) => void;
  changed?: (docs: string[]) => void;
  alert?: (e: AlertEvent) => void;
  kudos?: (k: Kudos) => void;
  joinLink?: (link: string) => void;
};

export interface Backend {
  /** 'tauri': the app with its local store; 'http': the browser dashboard. */
  readonly kind: 'tauri' | 'http';
  /** Worker actions (start shift, check in, extend, end) need a local store: app only. */
  readonly canWork: boolean;

  appState(): Promise<AppState>;
  join(input: JoinInput): Promise<AppState>;
  startShift(input: StartShiftInput): Promise<WriteResult>;
  checkIn(input: CheckInInput): Promise<WriteResult>;
  extendShift(input: ExtendInput): Promise<WriteResult>;
  endShift(input: EndInput): Promise<WriteResult>;
  ack(input: AckInput): Promise<WriteResult>;
  board(): Promise<BoardResponse>;
  shift(id: string): Promise<ShiftView>;
  history(member?: string): Promise<ShiftView[]>;
  health(days: number): Promise<HealthResponse>;
  alerts(all?: boolean): Promise<AlertList>;
  claimAlert(id: string): Promise<AlertView>;
  resolveAlert(id: string, note: string): Promise<AlertView>;
  /** A lead takes over an alert someone else claimed (or claims an open one). */
  takeOverAlert(id: string): Promise<AlertView>;
  /** A lead gives an alert to a lead or a buddy of the worker. */
  assignAlert(id: string, member: string): Promise<AlertView>;
  /** The roster (roles, buddies, phones) and the whole policy. */
  teamView(): Promise<TeamView>;
  /** Sets the team's policy (leads). */
  editPolicy(policy: PolicyEdit): Promise<TeamView>;
  /** Changes a member's role (leads), buddies or phone (leads, or the member themself). */
  editMember(member: string, edit: MemberEdit): Promise<TeamView>;
  /** A new invite (leads): code, link and QR code. */
  invite(role: 'member' | 'lead', uses: number): Promise<InviteResponse>;
  /** The team's devices (leads). */
  devices(): Promise<DeviceList>;
  /** Revokes a device of the team (leads). */
  revokeDevice(id: string): Promise<DeviceList>;
  kudos(to: string): Promise<void>;
  saveSettings(settings: Settings): Promise<AppState>;
  exportData(): Promise<string>;
  syncNow(): Promise<SyncState>;
  /** Forgets this device's credential (browser only; the app keeps its identity). */
  signOut?(): Promise<void>;
  /** A system notification (app only: the browser uses the Web Notification API itself). */
  notify?(title: string, body: string): Promise<void>;
  /** A `kith://join?...` link the app was opened with, not yet used (app only). */
  pendingJoinLink?(): Promise<string | null>;

  /** Starts listening; returns a function that stops. */
  subscribe(handlers: BackendEvents): () => void;
}

/** The one error shape from both backends: `message` is for people. */
export class BackendError extends Error implements ApiError {
  code: string;
  retryable: boolean;
  status: number | null;
  constructor(e: ApiError, status: number | null = null) {
    super(e.message);
    this.name = 'BackendError';
    this.code = e.code;
    this.retryable = e.retryable;
    this.status = status;
  }
}

/** Any thrown value → a BackendError, so the UI can always show `message`. */
export function toBackendError(e: unknown): BackendError {
  if (e instanceof BackendError) return e;
  if (isApiError(e)) return new BackendError(e);
  if (typeof e === 'string') {
    // Tauri rejects with the serialized error; it may be a JSON string or plain text.
    try {
      const parsed: unknown = JSON.parse(e);
      if (isApiError(parsed)) return new BackendError(parsed);
    } catch {
      /* plain text */
    }
    return new BackendError({ code: 'error', message: e, retryable: false });
  }
  if (e instanceof Error) return new BackendError({ code: 'error', message: e.message, retryable: false });
  return new BackendError({ code: 'error', message: 'Something went wrong.', retryable: false });
}

export function isApiError(x: unknown): x is ApiError {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as { code?: unknown }).code === 'string' &&
    typeof (x as { message?: unknown }).message === 'string'
  );
}

/** The error for worker actions in the browser. */
export const NOT_IN_BROWSER: ApiError = {
  code: 'not_available_in_browser',
  message:
    'Starting shifts and checking in need the Kith app: it keeps check-ins on the device so they work with no signal. This browser page is the team dashboard.',
  retryable: false,
};
