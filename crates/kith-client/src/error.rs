//! One error for every operation: what went wrong and what to do next, a stable `code` for
//! programs, and whether trying again later can help. Variants that callers word differently
//! (the command line names its own flags) carry the facts rather than only a sentence.

use std::path::PathBuf;

use kith_api::ApiError;
use kith_domain::{CheckInId, DomainError, MemberId, Secs, Shift, ShiftId, human};
use kith_store::StoreError;
use kith_sync::SyncError;

/// Why an operation failed. Nothing was changed unless the message says so.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// There is no profile on this device yet.
    #[error(
        "this device has not joined a team yet: join with your team server's address and the invite code your lead sent you"
    )]
    NotJoined,
    /// Joining into a data directory that already holds a profile.
    #[error(
        "this device already has a Kith profile ({name}{}); Kith did not change it. To join as someone else, use another data directory",
        if *on_server { ", on a team server" } else { ", for offline use" }
    )]
    AlreadyJoined { name: String, on_server: bool },
    /// A value the caller gave is wrong; the message names it and the range.
    #[error("{0}")]
    Invalid(String),
    /// The shift needs a purpose and there is no earlier shift to take one from.
    #[error("say what this shift is for, so your team knows (e.g. \"Meter readings, north estate\")")]
    PurposeMissing,
    /// An extension needs a reason.
    #[error("say why the shift runs longer, so your team knows: give a reason")]
    ReasonMissing,
    /// The chosen check-in interval is outside the team's policy.
    #[error(
        "a check-in every {} is outside your team's policy: choose between {} and {} (your team suggests {})",
        human(*interval), human(*min), human(*max), human(*default)
    )]
    IntervalOutOfPolicy { interval: Secs, min: Secs, max: Secs, default: Secs },
    /// A worker named themselves as their own buddy.
    #[error("{0} is your own member id: you cannot be your own buddy")]
    OwnBuddy(MemberId),
    /// A shift is already running.
    #[error(
        "you are already on shift (\"{}\"): end it first, or move its planned end with an extension",
        shift.purpose
    )]
    AlreadyOnShift { shift: Box<Shift> },
    /// The operation needs a running shift. `what` completes "there is nothing to ...".
    #[error("you are not on shift, so there is nothing to {what}: start a shift first")]
    NotOnShift { what: &'static str },
    /// Only leads acknowledge check-ins.
    #[error("only leads acknowledge check-ins, and you are a member of this team: ask a lead to reply")]
    NotLead,
    #[error("no check-in {0} on this device, even after syncing: check that it is on the team board")]
    CheckInNotFound(CheckInId),
    #[error("no shift {0} on this device: it may not have synced yet, or it is not shared with you")]
    ShiftNotFound(ShiftId),
    #[error("no member {0} in your team on this device: check the id, or sync and try again")]
    MemberNotFound(MemberId),
    /// Joined, but the team document has not arrived yet.
    #[error(
        "this device has not received its team from the server yet: it arrives with the next sync once you are online"
    )]
    TeamNotReceived,
    /// The team document is missing from a store that should have it.
    #[error(
        "your team's document ({id}) is missing from '{}'. Restore the data directory from a backup, or move it away and join again",
        path.display()
    )]
    TeamMissing { id: uuid::Uuid, path: PathBuf },
    /// A record Kith keeps on this device (profile, server link, settings) cannot be read.
    #[error(
        "this device's {what} in '{}' is damaged ({reason}). Kith did not change it. Restore the data directory from a backup, or move it away and join again",
        path.display()
    )]
    Damaged { what: &'static str, path: PathBuf, reason: String },
    /// A domain rule refused the change or a document is malformed.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The store refused or failed; its message already says what to do.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The team server could not be reached (now): trying later can help; nothing is lost.
    #[error("{0}")]
    Offline(String),
    /// The team server refused the request; `code` is the server's.
    #[error("{message}")]
    Refused { code: String, message: String, retryable: bool },
    /// The server no longer accepts this device's credential.
    #[error(
        "the team server no longer accepts this device ({0}). The check-ins on this device stay here; ask your lead for a new invite and join again from a fresh data directory"
    )]
    Unauthorized(String),
    /// The server has no record of this device (restored from a backup taken before it joined):
    /// everything stays on the device, and joining with a new invite re-joins as the same member.
    #[error(
        "the team server does not know this device any more: it was probably restored from a backup taken before \
         this device joined. Everything on this device is kept. Ask your lead for a new invite and join with it \
         here: this device re-joins as the same member and sends its shifts and check-ins"
    )]
    DeviceUnknown(String),
    /// The store says this device joined a server, but its credential is not on this computer
    /// (a data directory copied from another device, a removed keychain entry or file).
    #[error(
        "this device's credential for {server} is not on this computer ({why}). A Kith data directory copied from \
         another device cannot sync: the check-ins in it stay here. Ask your lead for a new invite and join again from \
         a fresh data directory (and ask them to revoke the old device if it was lost)"
    )]
    CredentialMissing { server: String, why: String },
    /// The keychain or the credential file holds the credential but cannot be read now.
    #[error("{0}")]
    CredentialUnreadable(String),
    /// The server's address is not usable.
    #[error("'{0}' is not a valid server address: use something like https://kith.example.org")]
    BadServerAddress(String),
    /// A plain `http://` address of a server that is not on this computer.
    #[error("{0}")]
    PlainHttp(String),
    /// The server answered something this version cannot read.
    #[error("the team server answered something this version of Kith cannot read ({0}): update Kith")]
    Protocol(String),
    /// An emergency check-in failed: said so loudly, with what to do instead.
    #[error(
        "YOUR EMERGENCY WAS NOT SAVED ({0}). Phone your team or the emergency services (112 / 999 / 911) now if you can"
    )]
    EmergencyNotSaved(Box<ClientError>),
    /// Something inside Kith failed (a task, a runtime); the message says what.
    #[error("{0}. If this keeps happening, restart Kith and report a bug")]
    Internal(String),
    /// Only leads may do this; the message says what and whom to ask.
    #[error("{0}")]
    LeadsOnly(String),
}

impl ClientError {
    /// A short, stable name for programs and the UI (snake_case).
    pub fn code(&self) -> &str {
        match self {
            ClientError::NotJoined => "not_joined",
            ClientError::AlreadyJoined { .. } => "already_joined",
            ClientError::Invalid(_)
            | ClientError::PurposeMissing
            | ClientError::ReasonMissing
            | ClientError::IntervalOutOfPolicy { .. }
            | ClientError::OwnBuddy(_) => "invalid_input",
            ClientError::AlreadyOnShift { .. } => "already_on_shift",
            ClientError::NotOnShift { .. } => "not_on_shift",
            ClientError::NotLead | ClientError::LeadsOnly(_) => "forbidden",
            ClientError::CheckInNotFound(_) | ClientError::ShiftNotFound(_) | ClientError::MemberNotFound(_) => {
                "not_found"
            }
            ClientError::TeamNotReceived => "team_not_received",
            ClientError::TeamMissing { .. } | ClientError::Damaged { .. } => "data_damaged",
            ClientError::Domain(e) => match e {
                DomainError::ShiftEnded => "not_on_shift",
                DomainError::UnknownCheckIn(_) => "not_found",
                DomainError::Malformed(_) | DomainError::Automerge(_) => "data_damaged",
                _ => "invalid_input",
            },
            ClientError::Store(_) => "storage",
            ClientError::Offline(_) => "offline",
            ClientError::Refused { code, .. } => code,
            ClientError::Unauthorized(_) => "unauthorized",
            ClientError::DeviceUnknown(_) => kith_proto::DEVICE_UNKNOWN,
            ClientError::CredentialMissing { .. } => "credential_missing",
            ClientError::CredentialUnreadable(_) => "credential_unreadable",
            ClientError::BadServerAddress(_) => "bad_server_address",
            ClientError::PlainHttp(_) => "plain_http",
            ClientError::Protocol(_) => "protocol",
            ClientError::Internal(_) => "internal",
            ClientError::EmergencyNotSaved(e) => e.code(),
        }
    }

    /// Whether the same operation can succeed later without anything else changing.
    pub fn retryable(&self) -> bool {
        match self {
            ClientError::Offline(_) | ClientError::TeamNotReceived => true,
            ClientError::Refused { retryable, .. } => *retryable,
            ClientError::EmergencyNotSaved(e) => e.retryable(),
            _ => false,
        }
    }

    /// The one error shape of the app's commands and the server's JSON API.
    pub fn to_api(&self) -> ApiError {
        ApiError { code: self.code().to_string(), message: self.to_string(), retryable: self.retryable() }
    }
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> ApiError {
        e.to_api()
    }
}

impl ClientError {
    /// The core's refusal of an operation on the store at `path`, as the app and the command line
    /// word it.
    pub fn from_op(e: kith_core::OpError<StoreError>, path: &std::path::Path) -> ClientError {
        use kith_core::OpError as O;
        match e {
            O::NotJoined => ClientError::NotJoined,
            O::Invalid(m) => ClientError::Invalid(m),
            O::PurposeMissing => ClientError::PurposeMissing,
            O::ReasonMissing => ClientError::ReasonMissing,
            O::IntervalOutOfPolicy { interval, min, max, default } => {
                ClientError::IntervalOutOfPolicy { interval, min, max, default }
            }
            O::OwnBuddy(m) => ClientError::OwnBuddy(m),
            O::AlreadyOnShift { shift } => ClientError::AlreadyOnShift { shift },
            O::NotOnShift { what } => ClientError::NotOnShift { what },
            O::NotLead => ClientError::NotLead,
            O::CheckInNotFound(c) => ClientError::CheckInNotFound(c),
            O::ShiftNotFound(s) => ClientError::ShiftNotFound(s),
            O::MemberNotFound(m) => ClientError::MemberNotFound(m),
            O::TeamNotReceived => ClientError::TeamNotReceived,
            O::TeamMissing { id } => ClientError::TeamMissing { id, path: path.to_path_buf() },
            O::Damaged { what, reason } => ClientError::Damaged { what, path: path.to_path_buf(), reason },
            O::Domain(d) => ClientError::Domain(d),
            O::Repo(s) => ClientError::Store(s),
        }
    }

    /// [`ClientError::from_op`] for checks that never touch a store.
    pub fn from_op_no_path(e: kith_core::OpError<StoreError>) -> ClientError {
        ClientError::from_op(e, std::path::Path::new(""))
    }
}

impl From<SyncError> for ClientError {
    fn from(e: SyncError) -> ClientError {
        match e {
            SyncError::Store(s) => ClientError::Store(s),
            SyncError::BadServerAddress(a) => ClientError::BadServerAddress(a),
            e @ SyncError::PlainHttp(_) => ClientError::PlainHttp(e.to_string()),
            SyncError::NotJoined => ClientError::NotJoined,
            e @ SyncError::Unauthorized { .. } if e.device_unknown() => ClientError::DeviceUnknown(e.to_string()),
            SyncError::Unauthorized { message, .. } => ClientError::Unauthorized(message),
            SyncError::Protocol(p) => ClientError::Protocol(p),
            SyncError::Server { code, message, retryable, .. } => ClientError::Refused { code, message, retryable },
            e @ (SyncError::Offline { .. } | SyncError::Timeout { .. }) => ClientError::Offline(e.to_string()),
        }
    }
}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> ClientError {
        ClientError::Internal(format!("a file operation failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_is_retryable_and_says_nothing_is_lost() {
        let e: ClientError =
            SyncError::Offline { server: "http://x/".into(), reason: "connection refused".into() }.into();
        let api = e.to_api();
        assert_eq!(api.code, "offline");
        assert!(api.retryable);
        assert!(api.message.contains("saved on this device"), "{}", api.message);
    }

    #[test]
    fn a_server_refusal_keeps_the_servers_code() {
        let e: ClientError = SyncError::Server {
            status: 404,
            code: "alert_unknown".into(),
            message: "no such alert".into(),
            retryable: false,
            retry_after: None,
        }
        .into();
        assert_eq!(e.code(), "alert_unknown");
        assert!(!e.retryable());
    }
}
