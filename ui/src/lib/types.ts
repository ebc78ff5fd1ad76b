// The shared view types, generated from crates/kith-api by ts-rs into src/generated/ (one file
// per type; `cargo test -p kith-api` regenerates them). Never edit or copy them by hand: this
// module only re-exports the ones the UI uses, so screens have one import.

export type { AckView } from '../generated/AckView';
export type { AlertEvent } from '../generated/AlertEvent';
export type { AlertList } from '../generated/AlertList';
export type { AlertState } from '../generated/AlertState';
export type { AlertView } from '../generated/AlertView';
export type { ApiError } from '../generated/ApiError';
export type { AppState } from '../generated/AppState';
export type { BoardEntry } from '../generated/BoardEntry';
export type { BoardResponse } from '../generated/BoardResponse';
export type { BoardStatus } from '../generated/BoardStatus';
export type { ChangedEvent } from '../generated/ChangedEvent';
export type { CheckInStatus } from '../generated/CheckInStatus';
export type { CheckInView } from '../generated/CheckInView';
export type { CheckinTimes } from '../generated/CheckinTimes';
export type { DueReason } from '../generated/DueReason';
export type { DueState } from '../generated/DueState';
export type { HealthResponse } from '../generated/HealthResponse';
export type { Kudos } from '../generated/Kudos';
export type { LocationPrecision } from '../generated/LocationPrecision';
export type { Me } from '../generated/Me';
export type { MeResponse } from '../generated/MeResponse';
export type { MemberRef } from '../generated/MemberRef';
export type { PolicyView } from '../generated/PolicyView';
export type { PresenceView } from '../generated/PresenceView';
export type { ReminderView } from '../generated/ReminderView';
export type { Role } from '../generated/Role';
export type { Settings } from '../generated/Settings';
export type { ShiftView } from '../generated/ShiftView';
export type { SyncState } from '../generated/SyncState';
export type { TeamHealth } from '../generated/TeamHealth';
export type { Visibility } from '../generated/Visibility';
export type { WorkerHealth } from '../generated/WorkerHealth';
export type { WriteResult } from '../generated/WriteResult';
