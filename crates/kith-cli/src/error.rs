//! Why a command failed, in plain words with the fix, and which exit code that means.

use std::path::PathBuf;

use kith_client::{ClientError, OpError};
use kith_domain::DomainError;
use kith_store::StoreError;

use crate::clock::format_duration;

/// The command line, or a value in it, is wrong. (clap uses 2 for its own usage errors too.)
pub const EXIT_USAGE: u8 = 2;
/// The command makes no sense right now: no profile yet, already on shift, not on shift...
pub const EXIT_STATE: u8 = 3;
/// This device's data cannot be used: a damaged or foreign database file, permissions, disk.
pub const EXIT_DATA: u8 = 4;
/// The team server could not be reached now (try again later; nothing is lost).
pub const EXIT_OFFLINE: u8 = 5;
/// The team server refused (revoked device, bad invite, ...): waiting will not help.
pub const EXIT_REFUSED: u8 = 6;

/// A failed command. Every message says what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input: a time, a rating, a duration outside the policy...
    #[error("{0}")]
    Usage(String),
    /// There is no profile in the data directory.
    #[error("No Kith profile in {}. Create one with: kith init --name <your name>", dir.display())]
    NoProfile { dir: PathBuf },
    /// Not possible in the current state (already on shift, not on shift, profile exists).
    #[error("{0}")]
    State(String),
    /// The store refused or failed; its message already says what to do.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Kith's own data on this device is damaged or unreadable.
    #[error("{0}")]
    Data(String),
    /// The team server could not be reached; retrying later can help.
    #[error("{0}")]
    Offline(String),
    /// The team server refused the request; retrying will not help until something changes.
    #[error("{0}")]
    Remote(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::NoProfile { .. } | CliError::State(_) => EXIT_STATE,
            CliError::Store(_) | CliError::Data(_) => EXIT_DATA,
            CliError::Offline(_) => EXIT_OFFLINE,
            CliError::Remote(_) => EXIT_REFUSED,
        }
    }

    /// A short, stable name of the kind of error (for `--json` callers and tests).
    pub fn kind(&self) -> &'static str {
        match self {
            CliError::Usage(_) => "usage",
            CliError::NoProfile { .. } => "no_profile",
            CliError::State(_) => "state",
            CliError::Store(_) => "store",
            CliError::Data(_) => "data",
            CliError::Offline(_) => "offline",
            CliError::Remote(_) => "refused",
        }
    }
}

impl From<DomainError> for CliError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::BadId { .. }
            | DomainError::BadRating { .. }
            | DomainError::BadLocation { .. }
            | DomainError::IntervalOutOfPolicy { .. }
            | DomainError::TooLong { .. }
            | DomainError::EndNotAfter { .. }
            | DomainError::Invalid(_) => CliError::Usage(e.to_string()),
            DomainError::ShiftEnded | DomainError::UnknownCheckIn(_) => CliError::State(e.to_string()),
            DomainError::Malformed(_) | DomainError::Automerge(_) => CliError::Data(format!(
                "Kith's data on this device could not be used: {e}. Nothing was changed. \
                 If this keeps happening, keep a copy of the data directory and report a bug."
            )),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Data(format!("could not write the output: {e}"))
    }
}

/// Where the data a refusal is about lives, for messages that say what to restore.
fn data_dir(path: Option<&std::path::Path>) -> String {
    path.map_or_else(|| "the data directory".to_string(), |p| format!("'{}'", p.display()))
}

/// How to start a shift, for the messages that need it.
pub const START_HINT: &str = "kith shift start --purpose \"...\" --until 17:30";

/// The command line's words for kith-client's refusals: the same facts, with the flags and
/// commands to use here. (Refusals that need the clock, like "already on shift since 09:00", are
/// worded where the clock is known.)
impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Op { error: OpError::NotJoined, .. } => CliError::State(
                "this device has not joined a team server: run kith join <server> <invite code>".into(),
            ),
            ClientError::Op { error: OpError::Invalid(m), .. } => CliError::Usage(m),
            ClientError::Op { error: OpError::PurposeMissing, .. } => CliError::Usage(
                "say what this shift is for, so your team knows: --purpose \"...\" (e.g. \"Meter readings, north estate\")"
                    .into(),
            ),
            ClientError::Op { error: OpError::ReasonMissing, .. } => CliError::Usage("say why, so your team knows: --reason \"...\"".into()),
            ClientError::Op { error: OpError::IntervalOutOfPolicy { interval, min, max, default }, .. } => CliError::Usage(format!(
                "a check-in every {} is outside your team's policy: choose between {} and {} (e.g. --every {})",
                format_duration(interval),
                format_duration(min),
                format_duration(max),
                format_duration(default).replace(' ', ""),
            )),
            e @ ClientError::Op { error: OpError::OwnBuddy(_), .. } => CliError::Usage(e.to_string()),
            ClientError::Op { error: OpError::AlreadyOnShift { shift }, .. } => CliError::State(format!(
                "You are already on shift: \"{}\". End it first with: kith end (or move its end with: kith extend --until <when> --reason \"...\")",
                crate::view::foreign(&shift.purpose)
            )),
            ClientError::Op { error: OpError::NotOnShift { what }, .. } => CliError::State(format!(
                "You are not on shift, so there is {}. Start a shift with: {START_HINT}",
                match what {
                    "extend" => "no planned end to move".to_string(),
                    other => format!("nothing to {other}"),
                }
            )),
            ClientError::Op { error: OpError::CheckInNotFound(id), .. } => CliError::State(format!(
                "no check-in {id} on this device, even after syncing: check the id with kith team (it lists the \
                 check-ins waiting for a reply)"
            )),
            e @ ClientError::Op { error: OpError::NotLead | OpError::ShiftNotFound(_) | OpError::MemberNotFound(_), .. } => CliError::State(e.to_string()),
            ClientError::Op { error: OpError::TeamNotReceived, .. } => CliError::State(
                "this device has not received its team from the server yet: run `kith sync` once you are online"
                    .to_string(),
            ),
            ClientError::Op { error: OpError::TeamMissing { id }, path } => CliError::Data(format!(
                "your team's document ({id}) is missing from {}. Restore the data directory from a backup, \
                 or move it away and run kith init again",
                data_dir(path.as_deref().map(PathBuf::as_path))
            )),
            ClientError::Op { error: OpError::Damaged { what: "server link", reason }, .. } => CliError::Data(format!(
                "this device's server link is damaged ({reason}). Join again with: kith join <server> <invite code>"
            )),
            ClientError::Op { error: OpError::Damaged { what, reason }, path } => CliError::Data(format!(
                "the Kith {what} in {} is damaged ({reason}). Kith did not change it. Restore the data directory \
                 from a backup, or move it away and run kith init again",
                data_dir(path.as_deref().map(PathBuf::as_path))
            )),
            ClientError::Op { error: OpError::Domain(d), .. } => d.into(),
            ClientError::Op { error: OpError::Repo(s), .. } => CliError::Store(s),
            ClientError::AlreadyJoined { name, on_server } => CliError::State(format!(
                "this data directory already has a profile ({name}){}. Join with a fresh one: kith --data-dir <new dir> join ...",
                if on_server { " on a team server" } else { " for offline use" }
            )),
            e @ ClientError::LeadsOnly(_) => CliError::State(e.to_string()),
            ClientError::Offline(m) => CliError::Offline(m),
            ClientError::Refused { message, .. } => CliError::Remote(message),
            e @ (ClientError::Unauthorized(_) | ClientError::DeviceUnknown(_) | ClientError::CredentialMissing { .. }) => CliError::Remote(e.to_string()),
            e @ ClientError::CredentialUnreadable(_) => CliError::Data(e.to_string()),
            e @ (ClientError::BadServerAddress(_) | ClientError::PlainHttp(_)) => CliError::Usage(e.to_string()),
            e @ ClientError::Protocol(_) => CliError::Remote(e.to_string()),
            e @ ClientError::Internal(_) => CliError::Data(e.to_string()),
            ClientError::EmergencyNotSaved(inner) => (*inner).into(),
        }
    }
}
