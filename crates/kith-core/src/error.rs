//! Why a worker's operation was refused: the facts, so each front end (the app, the command line,
//! the browser) can word them its own way, and a stable code for programs and the UI.

use kith_domain::{CheckInId, DomainError, MemberId, Secs, Shift, ShiftId, human};
use uuid::Uuid;

/// Why an operation failed. Nothing was changed. `E` is the repository's own error.
#[derive(Debug, thiserror::Error)]
pub enum OpError<E> {
    /// There is no profile on this device yet.
    #[error(
        "this device has not joined a team yet: join with your team server's address and the invite code your lead sent you"
    )]
    NotJoined,
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
    /// The team document is missing from a device that should have it (a profile for offline use).
    #[error("your team's document ({id}) is missing from this device: restore its data from a backup, or join again")]
    TeamMissing { id: Uuid },
    /// A record Kith keeps on this device (profile, server link, settings) cannot be read.
    #[error(
        "this device's {what} is damaged ({reason}). Kith did not change it: restore its data from a backup, or join again"
    )]
    Damaged { what: &'static str, reason: String },
    /// A domain rule refused the change or a document is malformed.
    #[error(transparent)]
    Domain(DomainError),
    /// The repository refused or failed; its message already says what to do.
    #[error(transparent)]
    Repo(E),
}

// Lets `?` lift the repository's errors (domain errors are lifted with `OpError::Domain`: a
// second `From` would overlap with this one).
impl<E> From<E> for OpError<E> {
    fn from(e: E) -> Self {
        OpError::Repo(e)
    }
}

impl<E> OpError<E> {
    /// The same error with the repository's error mapped (e.g. into the app's own store error).
    pub fn map_repo<F>(self, f: impl FnOnce(E) -> F) -> OpError<F> {
        match self {
            OpError::NotJoined => OpError::NotJoined,
            OpError::Invalid(m) => OpError::Invalid(m),
            OpError::PurposeMissing => OpError::PurposeMissing,
            OpError::ReasonMissing => OpError::ReasonMissing,
            OpError::IntervalOutOfPolicy { interval, min, max, default } => {
                OpError::IntervalOutOfPolicy { interval, min, max, default }
            }
            OpError::OwnBuddy(m) => OpError::OwnBuddy(m),
            OpError::AlreadyOnShift { shift } => OpError::AlreadyOnShift { shift },
            OpError::NotOnShift { what } => OpError::NotOnShift { what },
            OpError::NotLead => OpError::NotLead,
            OpError::CheckInNotFound(c) => OpError::CheckInNotFound(c),
            OpError::ShiftNotFound(s) => OpError::ShiftNotFound(s),
            OpError::MemberNotFound(m) => OpError::MemberNotFound(m),
            OpError::TeamNotReceived => OpError::TeamNotReceived,
            OpError::TeamMissing { id } => OpError::TeamMissing { id },
            OpError::Damaged { what, reason } => OpError::Damaged { what, reason },
            OpError::Domain(d) => OpError::Domain(d),
            OpError::Repo(e) => OpError::Repo(f(e)),
        }
    }

    /// A short, stable name for programs and the UI (snake_case), as the app's errors have.
    pub fn code(&self) -> &'static str {
        match self {
            OpError::NotJoined => "not_joined",
            OpError::Invalid(_)
            | OpError::PurposeMissing
            | OpError::ReasonMissing
            | OpError::IntervalOutOfPolicy { .. }
            | OpError::OwnBuddy(_) => "invalid_input",
            OpError::AlreadyOnShift { .. } => "already_on_shift",
            OpError::NotOnShift { .. } => "not_on_shift",
            OpError::NotLead => "forbidden",
            OpError::CheckInNotFound(_) | OpError::ShiftNotFound(_) | OpError::MemberNotFound(_) => "not_found",
            OpError::TeamNotReceived => "team_not_received",
            OpError::TeamMissing { .. } | OpError::Damaged { .. } => "data_damaged",
            OpError::Domain(e) => match e {
                DomainError::ShiftEnded => "not_on_shift",
                DomainError::UnknownCheckIn(_) => "not_found",
                DomainError::Malformed(_) | DomainError::Automerge(_) => "data_damaged",
                _ => "invalid_input",
            },
            OpError::Repo(_) => "storage",
        }
    }

    /// Whether the same operation can succeed later without anything else changing.
    pub fn retryable(&self) -> bool {
        matches!(self, OpError::TeamNotReceived)
    }
}
