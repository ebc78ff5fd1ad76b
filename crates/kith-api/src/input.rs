//! What the app's commands take (generated into TypeScript like the views): one struct per command (JSON, snake_case, as in docs/app.md).
//! Optional fields may be left out; the client fills them from the last shift, the settings or
//! the team's policy.

use crate::Settings;
use kith_domain::{CheckInId, CheckInStatus, MemberId, ShiftId, Timestamp, Visibility};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

/// `join`: `{ server, code, name }` or `{ link, name }` (a `kith://join?server=...&code=...` link).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct JoinInput {
    #[serde(default)]
    #[ts(optional)]
    pub server: Option<String>,
    #[serde(default)]
    #[ts(optional)]
    pub code: Option<String>,
    #[serde(default)]
    #[ts(optional)]
    pub link: Option<String>,
    pub name: String,
}

/// `start_shift`. `purpose` empty or absent: the last shift's. `interval_s` absent: the last
/// shift's, else the policy's default. `buddies` absent: the last shift's; `[]`: none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct StartShiftInput {
    #[serde(default)]
    #[ts(optional)]
    pub purpose: Option<String>,
    /// Milliseconds since the epoch; must be in the future.
    pub planned_end: Timestamp,
    #[serde(default)]
    #[ts(optional)]
    pub interval_s: Option<i64>,
    #[serde(default)]
    #[ts(optional)]
    pub buddies: Option<Vec<MemberId>>,
}

/// `check_in`. The position (`lat` and `lon`, both or neither) is shared at the precision chosen
/// in the settings, and not at all when that is "none". `note_visibility` absent: the settings'.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct CheckInInput {
    pub status: CheckInStatus,
    #[serde(default)]
    #[ts(optional)]
    pub mood: Option<u8>,
    #[serde(default)]
    #[ts(optional)]
    pub confidence: Option<u8>,
    #[serde(default)]
    #[ts(optional)]
    pub note: Option<String>,
    #[serde(default)]
    #[ts(optional)]
    pub note_visibility: Option<Visibility>,
    #[serde(default)]
    #[ts(optional)]
    pub lat: Option<f64>,
    #[serde(default)]
    #[ts(optional)]
    pub lon: Option<f64>,
}

/// `extend_shift`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ExtendInput {
    pub new_end: Timestamp,
    pub reason: String,
}

/// `end_shift`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct EndInput {
    #[serde(default)]
    #[ts(optional)]
    pub note: Option<String>,
}

/// `ack` (leads): a check-in of a shift, with an optional reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AckInput {
    pub shift: ShiftId,
    pub checkin: CheckInId,
    #[serde(default)]
    #[ts(optional)]
    pub reply: Option<String>,
}

/// `shift`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ShiftInput {
    pub id: ShiftId,
}

/// `history`: a member's shifts (mine when absent).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct HistoryInput {
    #[serde(default)]
    #[ts(optional)]
    pub member: Option<MemberId>,
}

/// `health`: the figures over the last `days` days (1 to 366).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct HealthInput {
    pub days: i64,
}

/// `alerts`: unresolved only, unless `all`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AlertsInput {
    #[serde(default)]
    #[ts(optional)]
    pub all: Option<bool>,
}

/// `claim_alert`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AlertIdInput {
    pub id: Uuid,
}

/// `resolve_alert`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ResolveInput {
    pub id: Uuid,
    pub note: String,
}

/// `kudos`: a wave to a teammate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct KudosInput {
    pub to: MemberId,
}

/// `save_settings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SaveSettingsInput {
    pub settings: Settings,
}

/// `edit_policy` (leads): the team's whole policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct EditPolicyInput {
    pub policy: crate::PolicyEdit,
}

/// `edit_member`: one member's role (leads), buddies or phone (leads, or the member themself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct EditMemberInput {
    pub member: MemberId,
    pub edit: crate::MemberEdit,
}

/// `invite` (leads): `role` is `member` or `lead`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct InviteInput {
    pub role: String,
    #[serde(default)]
    #[ts(optional)]
    pub expires_in_s: Option<u64>,
    #[serde(default)]
    #[ts(optional)]
    pub uses: Option<u32>,
}

/// `revoke_device` (leads).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RevokeInput {
    pub device: kith_domain::DeviceId,
}

/// `assign_alert` (leads): give an alert to a lead or a buddy of the worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AssignInput {
    pub id: Uuid,
    pub member: MemberId,
}

/// `notify`: a system notification from the UI (the alarm bell repeats until an urgent alert is
/// claimed; the Rust side raises the first one of each step itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct NotifyInput {
    pub title: String,
    pub body: String,
}
